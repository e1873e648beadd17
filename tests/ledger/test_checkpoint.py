"""Checkpoints as C2SP signed notes: our signatures verify with a plain Ed25519 check
written here from the text format alone, and any alteration is caught."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given
from hypothesis import strategies as st

from cxprism.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    open_signed,
    parse_text,
    parse_verifier_key,
    sign,
    verifier_key,
)

# The signed-note key published with Go's golang.org/x/mod/sumdb/note tests, and the
# signature line published there for its example text.
PUBLISHED_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PUBLISHED_SEED = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PUBLISHED_TEXT = ("If you think cryptography is the answer to your problem,\n"
                  "then you don't know what your problem is.\n")
PUBLISHED_SIGNATURE = ("x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqf"
                       "qdngotpRZb6KE6RyyBwJnAM=")
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
CHECKPOINT = Checkpoint("cx.example.com/ledger/acme", 1234, hashlib.sha256(b"root").digest())


def independent_verify(note: str, vkey: str) -> tuple[str, int, bytes]:
    """A check written from the formats alone: parse the key, find its signature line,
    verify Ed25519 over the text with the cryptography package, read the three lines."""
    name, key_hex, key_b64 = vkey.split("+", 2)
    raw_key = base64.b64decode(key_b64)
    assert raw_key[0] == 1 and len(raw_key) == 33
    text, signatures = note.split("\n\n", 1)
    text += "\n"
    for line in signatures.splitlines():
        signer, encoded = line.removeprefix("\u2014 ").split(" ")
        raw = base64.b64decode(encoded)
        if signer == name and raw[:4].hex() == key_hex:
            Ed25519PublicKey.from_public_bytes(raw_key[1:]).verify(raw[4:], text.encode())
            origin, size, root = text.splitlines()[:3]
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("no signature by the key")


def test_the_published_signed_note_key_and_signature_are_reproduced() -> None:
    key = parse_verifier_key(PUBLISHED_VKEY)
    assert key.encode() == PUBLISHED_VKEY
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(PUBLISHED_SEED)[1:])
    assert verifier_key("PeterNeumann", private) == key
    signature = base64.b64encode(key.key_id + private.sign(PUBLISHED_TEXT.encode())).decode()
    assert signature == PUBLISHED_SIGNATURE


def test_a_signed_checkpoint_verifies_with_a_plain_ed25519_check_from_the_text() -> None:
    note = sign(CHECKPOINT, "cx.example.com-acme", KEY)
    published = verifier_key("cx.example.com-acme", KEY).encode()
    assert independent_verify(note, published) == (CHECKPOINT.origin, CHECKPOINT.size,
                                                   CHECKPOINT.root)
    assert open_signed(note, parse_verifier_key(published)) == CHECKPOINT
    assert note.splitlines()[:3] == [CHECKPOINT.origin, "1234",
                                     base64.b64encode(CHECKPOINT.root).decode()]


def test_cosignatures_by_other_keys_are_ignored_and_a_missing_one_is_refused() -> None:
    note = sign(CHECKPOINT, "ours", KEY)
    witness = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    cosigned = note + sign(CHECKPOINT, "witness", witness).split("\n\n", 1)[1]
    assert open_signed(cosigned, verifier_key("ours", KEY)) == CHECKPOINT
    assert open_signed(cosigned, verifier_key("witness", witness)) == CHECKPOINT
    with pytest.raises(CheckpointError, match="no signature by"):
        open_signed(note, verifier_key("witness", witness))


@given(st.data())
def test_any_altered_character_is_caught(data: st.DataObject) -> None:
    note = sign(CHECKPOINT, "ours", KEY)
    text_end = note.index("\n\n")
    position = data.draw(st.integers(0, text_end - 1))
    replacement = data.draw(st.characters(codec="ascii", exclude_characters="\n"))
    if note[position] == replacement:
        return
    altered = note[:position] + replacement + note[position + 1:]
    with pytest.raises(CheckpointError):
        open_signed(altered, verifier_key("ours", KEY))


@pytest.mark.parametrize("text", [
    "origin\n01\nAAAA\n", "origin\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n",
    "origin\n5\n" + base64.b64encode(bytes(31)).decode() + "\n", "origin\n5\n",
    "\n5\n" + base64.b64encode(bytes(32)).decode() + "\n",
    "ori\x00gin\n5\n" + base64.b64encode(bytes(32)).decode() + "\n",
    "origin\n5\n" + base64.b64encode(bytes(32)).decode(),
])
def test_malformed_checkpoint_text_is_refused(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_text(text)


def test_a_checkpoint_that_cannot_be_read_back_is_never_signed() -> None:
    with pytest.raises(CheckpointError):
        sign(Checkpoint("two\nlines", 1, bytes(32)), "ours", KEY)
    with pytest.raises(CheckpointError):
        verifier_key("has space", KEY)


@pytest.mark.parametrize("vkey", [
    "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # wrong id
    "PeterNeumann+c74f20a3+AhpcMQcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",  # not Ed25519
    "PeterNeumann+c74f20a3", "+c74f20a3+ARpc", "PeterNeumann+zz4f20a3+ARpc",
])
def test_malformed_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(CheckpointError):
        parse_verifier_key(vkey)
