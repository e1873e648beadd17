"""Signed tree heads in the C2SP ``tlog-checkpoint`` format, as C2SP ``signed-note`` notes.

A checkpoint's text is three lines and optional extension lines::

    <origin>
    <tree size, decimal>
    <root hash, standard base64>

A signed note is that text, a blank line, and one line per signature:
``— <key name> <base64(key id || Ed25519 signature over the text)>``. An Ed25519 key's
id is the first 4 bytes of SHA-256(name || "\\n" || 0x01 || public key); its verifier key,
what a workspace publishes, is ``<name>+<id as 8 hex digits>+<base64(0x01 || public key)>``.
Anyone can check a checkpoint with that string and any Ed25519 implementation.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01  # the signed-note algorithm byte for Ed25519
SIGNATURE_PREFIX = "\u2014 "  # an em dash and a space start every signature line
HASH_BYTES = 32
_NAME = re.compile(r"^[^\s+]+$")
_SIZE = re.compile(r"^(0|[1-9][0-9]{0,19})$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class CheckpointError(ValueError):
    """Text that is not a well-formed checkpoint, or a signature that does not verify."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        """The note text that is signed (it ends with a newline)."""
        lines = [self.origin, str(self.size), base64.b64encode(self.root).decode()]
        return "\n".join([*lines, *self.extensions]) + "\n"


@dataclass(frozen=True)
class VerifierKey:
    name: str
    key_id: bytes
    public_key: bytes

    def encode(self) -> str:
        body = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{body}"


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def verifier_key(name: str, private_key: Ed25519PrivateKey) -> VerifierKey:
    if not _NAME.match(name):
        raise CheckpointError("a key name is non-empty, without spaces or '+'")
    public = private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return VerifierKey(name, key_id(name, public), public)


def parse_verifier_key(encoded: str) -> VerifierKey:
    parts = encoded.strip().split("+", 2)
    if len(parts) != 3 or not _NAME.match(parts[0]) or len(parts[1]) != 8:
        raise CheckpointError("a verifier key is <name>+<8 hex digits>+<base64 key>")
    try:
        claimed, raw = bytes.fromhex(parts[1]), base64.b64decode(parts[2], validate=True)
    except (ValueError, binascii.Error):
        raise CheckpointError("the verifier key's id or key is not hex/base64") from None
    if len(raw) != 33 or raw[0] != ED25519:
        raise CheckpointError("only Ed25519 verifier keys (0x01 || 32 bytes) are supported")
    if key_id(parts[0], raw[1:]) != claimed:
        raise CheckpointError("the verifier key's id does not match its name and key")
    return VerifierKey(parts[0], claimed, raw[1:])


def sign(checkpoint: Checkpoint, name: str, private_key: Ed25519PrivateKey) -> str:
    """The checkpoint as a signed note."""
    text = checkpoint.text()
    parse_text(text)  # refuse to sign what could not be read back
    key = verifier_key(name, private_key)
    signature = base64.b64encode(key.key_id + private_key.sign(text.encode())).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{name} {signature}\n"


def open_signed(note: str, key: VerifierKey) -> Checkpoint:
    """The checkpoint of a signed note, if ``key`` signed it; CheckpointError otherwise.
    Signatures by other keys are ignored (witnesses may cosign)."""
    text, separator, signatures = note.partition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise CheckpointError("a signed note is text, a blank line and signature lines")
    public = Ed25519PublicKey.from_public_bytes(key.public_key)
    for line in signatures[:-1].split("\n"):
        signature = _signature_by(line, key)
        if signature is None:
            continue
        try:
            public.verify(signature, (text + "\n").encode())
        except InvalidSignature:
            raise CheckpointError("the signature does not verify: the note was altered") from None
        return parse_text(text + "\n")
    raise CheckpointError(f"the note carries no signature by {key.name}")


def _signature_by(line: str, key: VerifierKey) -> bytes | None:
    if not line.startswith(SIGNATURE_PREFIX):
        raise CheckpointError("a signature line starts with an em dash and a space")
    name, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise CheckpointError("a signature is not base64") from None
    if name != key.name or raw[:4] != key.key_id:
        return None
    if len(raw) != 4 + 64:
        raise CheckpointError("an Ed25519 signature is 64 bytes")
    return raw[4:]


def parse_text(text: str) -> Checkpoint:
    """A checkpoint's text back into its parts; CheckpointError when malformed."""
    if not text.endswith("\n") or "\n\n" in text or _CONTROL.search(text[:-1].replace("\n", "")):
        raise CheckpointError("checkpoint text is non-empty lines of printable text, each "
                              "ending in a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[0] or not _SIZE.match(lines[1]):
        raise CheckpointError("a checkpoint starts: origin, decimal tree size, root hash")
    try:
        root = base64.b64decode(lines[2], validate=True)
    except binascii.Error:
        raise CheckpointError("the root hash is not standard base64") from None
    if len(root) != HASH_BYTES:
        raise CheckpointError("the root hash is not 32 bytes")
    return Checkpoint(lines[0], int(lines[1]), root, tuple(lines[3:]))
