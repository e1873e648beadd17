"""Signing secrets and Standard Webhooks signatures.

A secret is ``whsec_`` + base64 of 32 random bytes (the spec asks for 24 to 64). It is
shown once, when made, and stored AES-GCM encrypted under a key derived from the
settings' secret, with the endpoint's id as associated data: a ciphertext moved onto
another row does not decrypt.
"""

from __future__ import annotations

import base64
import os
import uuid
from datetime import datetime

from standardwebhooks import Webhook

from cxprism.config import get_settings
from cxprism.kit import crypto

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
SECRET_BYTES = 32
USER_AGENT = "cxprism-webhooks/1"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode()


def _key() -> bytes:
    return crypto.derive_key(get_settings().secret_key.get_secret_value(), "webhook-secrets")


def seal(endpoint_id: uuid.UUID, secret: str) -> bytes:
    return crypto.encrypt(_key(), secret.encode(), endpoint_id.bytes)


def unseal(endpoint_id: uuid.UUID, sealed: bytes) -> str:
    return crypto.decrypt(_key(), sealed, endpoint_id.bytes).decode()


def headers(signer: Webhook, webhook_id: str, at: datetime, body: str) -> dict[str, str]:
    """The headers of one attempt; the timestamp is the attempt's, the id the delivery's."""
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signer.sign(webhook_id, at, body),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
