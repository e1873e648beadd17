"""Receipts and consistency bundles, and their offline verification: pure functions.

A receipt is self-contained JSON: the entry's exact bytes (base64), its index, the
inclusion proof and the signed checkpoint it is proven against. Checking it needs the
log's published verifier key and nothing else — no server, no database::

    {"format": "cxprism-receipt/v1", "index": 7, "entry": "<base64>",
     "inclusion_proof": ["<base64 hash>", ...], "checkpoint": "<signed note>"}

A consistency bundle holds two signed checkpoints and the proof that the older tree is
a prefix of the newer one.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from cxprism.ledger.checkpoint import Checkpoint, CheckpointError, VerifierKey, open_signed
from cxprism.ledger.merkle import leaf_hash, verify_consistency, verify_inclusion

RECEIPT_FORMAT = "cxprism-receipt/v1"
CONSISTENCY_FORMAT = "cxprism-consistency/v1"


class ReceiptError(ValueError):
    """A receipt or bundle that is malformed or does not verify; the message says which."""


@dataclass(frozen=True)
class VerifiedReceipt:
    index: int
    entry: dict[str, Any]
    checkpoint: Checkpoint


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def receipt(index: int, entry: bytes, proof: Sequence[bytes], note: str) -> dict[str, Any]:
    return {"format": RECEIPT_FORMAT, "index": index, "entry": b64(entry),
            "inclusion_proof": [b64(p) for p in proof], "checkpoint": note}


def consistency_bundle(old_note: str, new_note: str, proof: Sequence[bytes]) -> dict[str, Any]:
    return {"format": CONSISTENCY_FORMAT, "old_checkpoint": old_note,
            "new_checkpoint": new_note, "consistency_proof": [b64(p) for p in proof]}


def verify_receipt(document: Mapping[str, Any], key: VerifierKey) -> VerifiedReceipt:
    """The receipt's entry and checkpoint if it verifies; ReceiptError saying why not."""
    if document.get("format") != RECEIPT_FORMAT:
        raise ReceiptError(f"not a receipt: format is not {RECEIPT_FORMAT!r}")
    index = document.get("index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ReceiptError("the receipt's index is not a non-negative integer")
    entry_bytes = _decode(document.get("entry"), "entry")
    proof = [_decode(p, "inclusion proof element") for p in _list(document, "inclusion_proof")]
    checkpoint = _open(document.get("checkpoint"), key)
    entry = _entry(entry_bytes)
    if entry.get("log") != checkpoint.origin:
        raise ReceiptError("the entry belongs to another log than the checkpoint")
    if entry.get("index") != index:
        raise ReceiptError("the entry names another index than the receipt")
    if not verify_inclusion(leaf_hash(entry_bytes), index, checkpoint.size, proof,
                            checkpoint.root):
        raise ReceiptError("the inclusion proof does not lead to the checkpoint's root: the "
                           "entry, its index or the proof was altered")
    return VerifiedReceipt(index, entry, checkpoint)


def verify_bundle(document: Mapping[str, Any], key: VerifierKey) -> tuple[Checkpoint, Checkpoint]:
    """Both checkpoints if the older is a prefix of the newer; ReceiptError otherwise."""
    if document.get("format") != CONSISTENCY_FORMAT:
        raise ReceiptError(f"not a consistency bundle: format is not {CONSISTENCY_FORMAT!r}")
    old = _open(document.get("old_checkpoint"), key)
    new = _open(document.get("new_checkpoint"), key)
    if old.origin != new.origin:
        raise ReceiptError("the checkpoints are of two different logs")
    proof = [_decode(p, "consistency proof element")
             for p in _list(document, "consistency_proof")]
    if not verify_consistency(old.size, new.size, old.root, new.root, proof):
        raise ReceiptError(f"the log of {new.size} entries does not extend the log of "
                           f"{old.size}: history was rewritten, or the proof was altered")
    return old, new


def _open(note: Any, key: VerifierKey) -> Checkpoint:
    if not isinstance(note, str):
        raise ReceiptError("a checkpoint is a signed note (text)")
    try:
        return open_signed(note, key)
    except CheckpointError as exc:
        raise ReceiptError(f"checkpoint: {exc}") from None


def _list(document: Mapping[str, Any], name: str) -> list[Any]:
    value = document.get(name)
    if not isinstance(value, list):
        raise ReceiptError(f"{name} is a list of base64 hashes")
    return value


def _decode(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ReceiptError(f"the {what} is not base64 text")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ReceiptError(f"the {what} is not valid base64") from None


def _entry(raw: bytes) -> dict[str, Any]:
    try:
        entry = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ReceiptError("the entry is not JSON") from None
    if not isinstance(entry, dict):
        raise ReceiptError("the entry is not a JSON object")
    return entry
