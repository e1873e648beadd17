"""Receipts, consistency bundles and the auditor over a log built in memory: what verifies
offline, what any alteration turns into, and the exact index an audit blames."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cxprism.ledger import merkle, receipts
from cxprism.ledger.audit import Auditor, AuditReport
from cxprism.ledger.checkpoint import Checkpoint, sign, verifier_key
from cxprism.ledger.entries import entry_bytes
from cxprism.ledger.layout import Frontier, Key, extend, lookup_from, stored_keys
from cxprism.ledger.receipts import ReceiptError

ORIGIN = "example.com/ledger/test"
KEY = Ed25519PrivateKey.generate()
VKEY = verifier_key(ORIGIN, KEY)
START = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make_entry(index: int, previous: bytes, data: dict[str, Any], origin: str = ORIGIN) -> bytes:
    return entry_bytes(origin=origin, index=index, previous=previous,
                       event_id=uuid.UUID(int=index + 1), event_type="consent.changed",
                       seq=index, occurred_at=START + timedelta(seconds=index), data=data)


@dataclass(frozen=True)
class Log:
    entries: tuple[bytes, ...]
    hashes: tuple[bytes, ...]
    nodes: dict[Key, bytes]  # the stored interior subtrees
    frontier: Frontier

    @property
    def size(self) -> int:
        return len(self.entries)

    def lookup(self, ranges: list[merkle.Range]) -> merkle.SubtreeLookup:
        """A lookup over only the stored rows a proof needs, as the service reads them."""
        store = {**{(0, i): h for i, h in enumerate(self.hashes)}, **self.nodes}
        keys = stored_keys(merkle.subtrees_needed(ranges))
        return lookup_from({key: store[key] for key in keys})

    def note(self, size: int, origin: str = ORIGIN, key: Ed25519PrivateKey = KEY) -> str:
        root = merkle.root(self.hashes[:size])
        return sign(Checkpoint(origin, size, root), ORIGIN, key)


@cache
def build_log(count: int, tag: str = "") -> Log:
    entries, hashes, previous = [], [], merkle.EMPTY_ROOT
    for index in range(count):
        raw = make_entry(index, previous, {"n": index, "tag": tag})
        previous = merkle.leaf_hash(raw)
        entries.append(raw)
        hashes.append(previous)
    growth = extend(Frontier.empty(), hashes)
    nodes = {(level, index): digest for level, index, digest in growth.nodes}
    return Log(tuple(entries), tuple(hashes), nodes, growth.frontier)


# ---------------------------------------------------------------------------
# Receipts.

SMALL = 13


def receipt_for(index: int, log: Log | None = None) -> dict[str, Any]:
    log = log if log is not None else build_log(SMALL)
    lookup = log.lookup(merkle.inclusion_path_ranges(index, log.size))
    proof = merkle.inclusion_proof(index, log.size, lookup)
    return receipts.receipt(index, log.entries[index], proof, log.note(log.size))


def rejected(document: dict[str, Any], match: str, key: Any = VKEY) -> None:
    with pytest.raises(ReceiptError, match=match):
        receipts.verify_receipt(document, key)


@pytest.mark.parametrize("index", range(SMALL))
def test_every_receipt_verifies(index: int) -> None:
    verified = receipts.verify_receipt(receipt_for(index), VKEY)
    assert verified.index == index
    assert verified.entry == orjson.loads(build_log(SMALL).entries[index])
    assert verified.checkpoint.size == SMALL
    assert verified.checkpoint.root == merkle.root(build_log(SMALL).hashes)


def test_a_receipt_is_json_and_verifies_after_a_round_trip() -> None:
    document = orjson.loads(orjson.dumps(receipt_for(4)))
    assert receipts.verify_receipt(document, VKEY).index == 4


def test_receipt_of_a_one_entry_log_has_no_proof() -> None:
    document = receipt_for(0, build_log(1))
    assert document["inclusion_proof"] == []
    assert receipts.verify_receipt(document, VKEY).index == 0


@pytest.mark.parametrize("index", [0, 6, SMALL - 1])
def test_altered_entry_bytes_are_refused(index: int) -> None:
    document = receipt_for(index)
    entry = build_log(SMALL).entries[index]
    edited = entry.replace(b'"n":%d' % index, b'"n":%d' % (index + 100))
    assert edited != entry
    rejected({**document, "entry": receipts.b64(edited)}, "entry, its index or the proof")
    rejected({**document, "entry": receipts.b64(entry[:-1])}, "not JSON")
    rejected({**document, "entry": "not base64!"}, "entry is not valid base64")


def test_altered_index_is_refused() -> None:
    document = receipt_for(5)
    rejected({**document, "index": 6}, "another index")
    rejected({**document, "index": -1}, "non-negative integer")
    rejected({**document, "index": True}, "non-negative integer")


def test_entry_moved_to_another_index_is_refused() -> None:
    # The entry and its own index, but with the proof of another leaf.
    document = receipt_for(5)
    other = receipt_for(6)
    rejected({**document, "inclusion_proof": other["inclusion_proof"]},
             "does not lead to the checkpoint's root")


@pytest.mark.parametrize("position", [0, 1, 2])
def test_altered_proof_element_is_refused(position: int) -> None:
    document = receipt_for(5)
    proof = list(document["inclusion_proof"])
    raw = bytearray(base64.b64decode(proof[position]))
    raw[0] ^= 1
    proof[position] = receipts.b64(bytes(raw))
    rejected({**document, "inclusion_proof": proof}, "does not lead to the checkpoint's root")


def test_shortened_lengthened_or_garbled_proof_is_refused() -> None:
    document = receipt_for(5)
    proof = document["inclusion_proof"]
    message = "does not lead to the checkpoint's root"
    rejected({**document, "inclusion_proof": proof[:-1]}, message)
    rejected({**document, "inclusion_proof": [*proof, proof[0]]}, message)
    rejected({**document, "inclusion_proof": ["%%%"]}, "proof element is not valid base64")
    rejected({**document, "inclusion_proof": "abc"}, "list of base64 hashes")


@pytest.mark.parametrize(("old", "new"), [(f"\n{SMALL}\n", f"\n{SMALL + 1}\n"),
                                          (ORIGIN + "\n", "example.com/ledger/tess\n")])
def test_altered_checkpoint_text_is_refused(old: str, new: str) -> None:
    document = receipt_for(3)
    altered = document["checkpoint"].replace(old, new, 1)
    assert altered != document["checkpoint"]
    rejected({**document, "checkpoint": altered}, "signature does not verify")


def test_altered_checkpoint_root_is_refused() -> None:
    document = receipt_for(3)
    log = build_log(SMALL)
    real = base64.b64encode(merkle.root(log.hashes)).decode()
    fake = base64.b64encode(merkle.root(log.hashes[:-1])).decode()
    altered = document["checkpoint"].replace(real, fake)
    assert altered != document["checkpoint"]
    rejected({**document, "checkpoint": altered}, "signature does not verify")


def test_another_key_is_refused() -> None:
    other = Ed25519PrivateKey.generate()
    document = receipt_for(3)
    rejected(document, "no signature by", key=verifier_key(ORIGIN, other))
    resigned = {**document, "checkpoint": build_log(SMALL).note(SMALL, key=other)}
    rejected(resigned, "no signature by")


def test_checkpoint_of_another_log_is_refused() -> None:
    document = receipt_for(3)
    foreign = build_log(SMALL).note(SMALL, origin="example.com/ledger/other")
    rejected({**document, "checkpoint": foreign}, "another log")


def test_not_a_receipt_is_refused() -> None:
    rejected({**receipt_for(3), "format": "cxprism-receipt/v0"}, "not a receipt")
    rejected({**receipt_for(3), "checkpoint": None}, "signed note")


# ---------------------------------------------------------------------------
# Consistency bundles.

BIG = 40


def bundle(old: int, new: int) -> dict[str, Any]:
    log = build_log(BIG)
    proof = merkle.consistency_proof(old, new, log.lookup(merkle.consistency_path_ranges(old, new)))
    return receipts.consistency_bundle(log.note(old), log.note(new), proof)


@pytest.mark.parametrize(("old", "new"), [(0, 40), (1, 40), (7, 13), (16, 40), (13, 39),
                                          (39, 40), (40, 40)])
def test_consistency_bundles_verify(old: int, new: int) -> None:
    first, second = receipts.verify_bundle(bundle(old, new), VKEY)
    assert (first.size, second.size) == (old, new)


@pytest.mark.parametrize(("old", "new"), [(1, 40), (7, 13), (16, 40), (39, 40)])
def test_swapped_or_altered_bundles_are_refused(old: int, new: int) -> None:
    document = bundle(old, new)
    swapped = {**document, "old_checkpoint": document["new_checkpoint"],
               "new_checkpoint": document["old_checkpoint"]}
    with pytest.raises(ReceiptError, match=f"log of {old} entries does not extend"):
        receipts.verify_bundle(swapped, VKEY)
    proof = [base64.b64decode(p) for p in document["consistency_proof"]]
    for position in range(len(proof)):
        altered = [*proof]
        altered[position] = merkle.node_hash(altered[position], altered[position])
        forged = {**document, "consistency_proof": [receipts.b64(p) for p in altered]}
        with pytest.raises(ReceiptError, match="history was rewritten"):
            receipts.verify_bundle(forged, VKEY)


def test_bundle_against_a_rewritten_history_is_refused() -> None:
    rewritten = build_log(BIG, tag="rewritten")
    document = {**bundle(16, 40), "new_checkpoint": rewritten.note(40)}
    with pytest.raises(ReceiptError, match="does not extend the log of 16"):
        receipts.verify_bundle(document, VKEY)


def test_bundle_of_two_logs_or_another_key_is_refused() -> None:
    document = bundle(7, 13)
    foreign = {**document, "new_checkpoint": build_log(BIG).note(13, origin="example.com/x")}
    with pytest.raises(ReceiptError, match="two different logs"):
        receipts.verify_bundle(foreign, VKEY)
    other = verifier_key(ORIGIN, Ed25519PrivateKey.generate())
    with pytest.raises(ReceiptError, match="no signature by"):
        receipts.verify_bundle(document, other)
    with pytest.raises(ReceiptError, match="not a consistency bundle"):
        receipts.verify_bundle({**document, "format": receipts.RECEIPT_FORMAT}, VKEY)


# ---------------------------------------------------------------------------
# The auditor.


@dataclass(frozen=True)
class Row:
    index: int
    entry: bytes
    leaf_hash: bytes


def rows_of(log: Log) -> list[Row]:
    return [Row(i, e, h) for i, (e, h) in enumerate(zip(log.entries, log.hashes, strict=True))]


def run_audit(log: Log, rows: list[Row], nodes: dict[Key, bytes] | None = None,
              checkpoints: dict[int, bytes] | None = None) -> AuditReport:
    if checkpoints is None:
        sizes = {0, min(20, log.size), log.size}
        checkpoints = {size: merkle.root(log.hashes[:size]) for size in sizes}
    auditor = Auditor(ORIGIN)
    auditor.keep_roots_at(set(checkpoints))
    for row in rows:
        if not auditor.feed(row.index, row.entry, row.leaf_hash,
                            log.nodes if nodes is None else nodes):
            break
    return auditor.finish(size=log.size, last_leaf=log.hashes[-1] if log.size else None,
                          frontier_root=log.frontier.root(), checkpoints=checkpoints)


def blamed(log: Log, rows: list[Row], **kwargs: Any) -> int:
    report = run_audit(log, rows, **kwargs)
    assert report.finding is not None, "the audit found nothing"
    assert report.finding.problem
    return report.finding.index


def forged(log: Log, index: int) -> Row:
    """A well-formed entry at ``index`` after the real entry ``index - 1``, with its hash."""
    previous = log.hashes[index - 1] if index else merkle.EMPTY_ROOT
    raw = make_entry(index, previous, {"n": index, "forged": True})
    return Row(index, raw, merkle.leaf_hash(raw))


def renumbered(rows: list[Row], by: int) -> list[Row]:
    return [replace(row, index=row.index + by) for row in rows]


@pytest.mark.parametrize("count", [0, 1, 15, 16, 40, 257])
def test_an_intact_log_has_no_finding(count: int) -> None:
    log = build_log(count)
    report = run_audit(log, rows_of(log))
    assert report.finding is None
    assert report.intact
    assert (report.size, report.checked) == (count, count)


INDICES = [0, 1, 7, 14, 15, 16, 30, 31, 32, 38, 39]


@pytest.mark.parametrize("i", INDICES)
def test_edited_entry_with_its_old_hash(i: int) -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    rows[i] = replace(forged(log, i), leaf_hash=log.hashes[i])
    assert blamed(log, rows) == i


@pytest.mark.parametrize("i", INDICES)
def test_edited_entry_with_its_hash_rewritten(i: int) -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    rows[i] = forged(log, i)
    assert blamed(log, rows) == i


@pytest.mark.parametrize("i", INDICES)
def test_deleted_row(i: int) -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    assert blamed(log, rows[:i] + rows[i + 1:]) == i


@pytest.mark.parametrize("i", INDICES)
def test_deleted_row_with_later_rows_renumbered(i: int) -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    assert blamed(log, rows[:i] + renumbered(rows[i + 1:], -1)) == i


@pytest.mark.parametrize("i", [*INDICES, BIG])
def test_inserted_entry_with_later_rows_renumbered(i: int) -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    assert blamed(log, [*rows[:i], forged(log, i), *renumbered(rows[i:], 1)]) == i


@pytest.mark.parametrize(("i", "j"), [(0, 1), (0, 39), (3, 20), (14, 15), (15, 16),
                                      (16, 31), (38, 39)])
def test_swapped_rows(i: int, j: int) -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    rows[i], rows[j] = replace(rows[j], index=i), replace(rows[i], index=j)
    assert blamed(log, rows) == i


@pytest.mark.parametrize(("count", "key"), [(40, (4, 0)), (40, (4, 1)), (32, (4, 1)),
                                            (260, (4, 5)), (260, (4, 15)), (260, (8, 0))])
def test_changed_stored_node(count: int, key: Key) -> None:
    log = build_log(count)
    nodes = {**log.nodes, key: merkle.node_hash(log.nodes[key], log.nodes[key])}
    level, index = key
    assert blamed(log, rows_of(log), nodes=nodes) == index << level


def test_missing_stored_node_is_reported_at_its_first_leaf() -> None:
    log = build_log(BIG)
    nodes = {k: v for k, v in log.nodes.items() if k != (4, 1)}
    assert blamed(log, rows_of(log), nodes=nodes) == 16


@pytest.mark.parametrize("size", [5, 20, 33])
def test_checkpoint_root_that_does_not_match(size: int) -> None:
    log = build_log(BIG)
    checkpoints = {0: merkle.EMPTY_ROOT, size: merkle.root(log.hashes[:size - 1]),
                   BIG: merkle.root(log.hashes)}
    report = run_audit(log, rows_of(log), checkpoints=checkpoints)
    assert report.finding is not None
    assert report.finding.index == size
    assert f"checkpoint of size {size}" in report.finding.problem


def test_head_that_does_not_match() -> None:
    log = build_log(BIG)
    wrong_head = replace(log, frontier=build_log(BIG, tag="other").frontier)
    assert blamed(wrong_head, rows_of(log)) == BIG
    assert blamed(replace(log, hashes=(*log.hashes[:-1], log.hashes[0])), rows_of(log)) == 39


def test_entry_of_another_log_or_not_canonical() -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    alien = make_entry(9, log.hashes[8], {"n": 9}, origin="example.com/ledger/other")
    assert blamed(log, [*rows[:9], Row(9, alien, merkle.leaf_hash(alien)), *rows[10:]]) == 9
    spaced = log.entries[9].replace(b",", b", ", 1)
    assert blamed(log, [*rows[:9], Row(9, spaced, merkle.leaf_hash(spaced)), *rows[10:]]) == 9


@pytest.mark.parametrize("count", [16, 32, 48])
def test_edited_last_entry_that_completes_a_stored_subtree(count: int) -> None:
    log, rows = build_log(count), rows_of(build_log(count))
    rows[-1] = forged(log, count - 1)
    assert blamed(log, rows) == count - 1


def test_first_entry_with_a_rewritten_prev_and_hash() -> None:
    log, rows = build_log(BIG), rows_of(build_log(BIG))
    raw = make_entry(0, merkle.leaf_hash(b"nothing"), {"n": 0, "tag": ""})
    rows[0] = Row(0, raw, merkle.leaf_hash(raw))
    assert blamed(log, rows) == 0
