"""Meta's webhook checks: the subscription handshake and ``X-Hub-Signature-256``.

Subscribing, Meta sends ``GET ?hub.mode=subscribe&hub.verify_token=...&hub.challenge=...``
and expects the challenge back when the token is ours. Every notification is a POST
whose raw body is signed: ``sha256=`` and the hex HMAC-SHA256 of the exact bytes, keyed
by the app secret. The bytes are checked before any parsing, because re-serialised JSON
(Meta escapes non-ASCII characters, for one) would not match.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from cxprism.channels.protocol import PayloadInvalid, SignatureInvalid

SIGNATURE_HEADER = "x-hub-signature-256"
_PREFIX = "sha256="
_CHALLENGE = re.compile(r"[\x21-\x7e]{1,256}")


def hub_signature(app_secret: str, body: bytes) -> str:
    """The ``X-Hub-Signature-256`` value Meta sends with ``body``."""
    return _PREFIX + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def verify_hub_signature(app_secret: str, body: bytes, header_value: str | None) -> None:
    if not header_value:
        raise SignatureInvalid(f"the {SIGNATURE_HEADER} header is missing")
    given = header_value.strip()
    if given[:len(_PREFIX)].lower() != _PREFIX:
        raise SignatureInvalid(f"the {SIGNATURE_HEADER} header must start with {_PREFIX}")
    expected = hub_signature(app_secret, body)
    if not hmac.compare_digest(expected.encode(), (_PREFIX + given[len(_PREFIX):].lower())
                               .encode("utf-8", "surrogatepass")):
        raise SignatureInvalid("the signature does not match this channel's app secret")


def subscription_challenge(verify_token: str, query: list[tuple[str, str]]) -> str:
    """The challenge to echo for a valid subscription handshake."""
    params = dict(reversed(query))  # the first value of a repeated name wins
    if params.get("hub.mode") != "subscribe":
        raise PayloadInvalid("a GET must be Meta's subscription handshake (hub.mode=subscribe)")
    token = params.get("hub.verify_token", "")
    if not hmac.compare_digest(token.encode("utf-8", "surrogatepass"), verify_token.encode()):
        raise SignatureInvalid("hub.verify_token is not this channel's verify token")
    challenge = params.get("hub.challenge", "")
    if not _CHALLENGE.fullmatch(challenge):
        raise PayloadInvalid("hub.challenge is missing or not printable")
    return challenge
