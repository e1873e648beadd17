"""Standard Webhooks (https://www.standardwebhooks.com) signatures, in and out.

A sender signs ``{webhook-id}.{webhook-timestamp}.{body}`` with HMAC-SHA256 under a
``whsec_<base64>`` secret and sends ``v1,<base64 signature>`` values, space-separated, in
``webhook-signature``; a receiver refuses timestamps more than five minutes away from its
clock, so a captured request cannot be replayed later. The social and voice connectors
both speak it: the bridge tools that feed them (social listening suites, contact-centre
systems) can sign with any of the specification's libraries.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from cxprism.channels.protocol import SignatureInvalid, WebhookRequest
from cxprism.kit.ids import uuid7

SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret
# The specification recommends keys of 24 to 64 bytes; shorter ones are guessable.
MIN_KEY_BYTES = 24
MAX_KEY_BYTES = 64
# Headers are bounded by the HTTP server too; these keep a hostile one from costing work.
MAX_ID_CHARS = 255
MAX_SIGNATURE_HEADER_CHARS = 4096
# An id we put in a header and in the signed content must be plain, printable ASCII.
_SAFE_ID = re.compile(r"[A-Za-z0-9_.:-]{1,200}")


def check_secret(value: str) -> str:
    """A ``whsec_`` secret whose base64 part decodes to a key of a sensible length."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError("must be a Standard Webhooks secret: whsec_ followed by base64")
    encoded = value[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the part after whsec_ must be base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(f"the key must be {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes long")
    return value


WebhookSecret = Annotated[str, AfterValidator(check_secret)]


def verify(secret: str, request: WebhookRequest) -> str:
    """Check the request's signature and timestamp; answer its ``webhook-id``.

    Raises :class:`SignatureInvalid` when a header is missing or malformed, no signature
    matches, or the timestamp is outside the five-minute tolerance.
    """
    headers = request.headers
    msg_id = headers.get("webhook-id", "")
    signature = headers.get("webhook-signature", "")
    if not (msg_id and headers.get("webhook-timestamp") and signature):
        raise SignatureInvalid("webhook-id, webhook-timestamp and webhook-signature are required")
    if len(msg_id) > MAX_ID_CHARS or len(signature) > MAX_SIGNATURE_HEADER_CHARS:
        raise SignatureInvalid("a webhook signature header is too long")
    try:
        Webhook(secret).verify(request.body, headers, json_parse=False)
    # The library lets malformed input escape as ValueError (a signature without a comma,
    # bad base64, a body that is not UTF-8); all of it means "not verifiably signed".
    except (WebhookVerificationError, ValueError) as exc:
        raise SignatureInvalid(f"the webhook signature was not accepted: {exc}") from None
    return msg_id


def webhook_id_for(idempotency_key: str | None) -> str:
    """The ``webhook-id`` of an outgoing request: stable for one idempotency key.

    The receiver deduplicates on this id, so a retried send must reuse it. A key that is
    not safe in a header is replaced by a digest of itself, which is just as stable.
    """
    if idempotency_key is None:
        return f"msg_{uuid7().hex}"
    if _SAFE_ID.fullmatch(idempotency_key):
        return idempotency_key
    digest = hashlib.sha256(idempotency_key.encode("utf-8", "surrogatepass")).hexdigest()
    return f"msg_{digest[:40]}"


def sign_headers(secret: str, msg_id: str, body: bytes, now: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers for ``body`` sent at ``now``."""
    at = datetime.fromtimestamp(int(now.timestamp()), UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode("utf-8"))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }
