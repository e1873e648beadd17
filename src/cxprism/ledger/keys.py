"""A workspace's checkpoint signing key: Ed25519, kept wrapped by the server's secret."""

from __future__ import annotations

import uuid
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
)

from cxprism.config import get_settings
from cxprism.kit import crypto
from cxprism.ledger.checkpoint import VerifierKey, key_id


def _wrapping_key() -> bytes:
    return crypto.derive_key(get_settings().secret_key.get_secret_value(), "ledger-signing")


def origin_for(workspace_id: uuid.UUID) -> str:
    """The log's name in checkpoints and the signing key's name: host and workspace.

    Fixed when the log is created; C2SP origins are schema-less, so the scheme is dropped.
    """
    host = urlsplit(get_settings().base_url).netloc or "cxprism"
    return f"{host}/ledger/{workspace_id}"


def new_signing_key(workspace_id: uuid.UUID) -> tuple[bytes, bytes]:
    """A fresh key pair: (wrapped private key, raw public key)."""
    private = Ed25519PrivateKey.generate()
    raw = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return crypto.encrypt(_wrapping_key(), raw, workspace_id.bytes), public


def signing_key(workspace_id: uuid.UUID, wrapped: bytes) -> Ed25519PrivateKey:
    raw = crypto.decrypt(_wrapping_key(), wrapped, workspace_id.bytes)
    return Ed25519PrivateKey.from_private_bytes(raw)


def published_key(origin: str, public_key: bytes) -> VerifierKey:
    """What anyone needs to check this log's checkpoints: ``<name>+<id>+<key>``."""
    return VerifierKey(origin, key_id(origin, public_key), public_key)
