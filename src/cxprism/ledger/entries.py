"""What the ledger records for a domain event, as a canonical leaf: pure functions.

An entry names its log, its own index and the hash of the leaf before it, so an entry
moved, removed or slipped in between is found at its exact index by an audit (each
entry vouches for its place and for its predecessor), on top of the Merkle tree that
checkpoints sign.

Personal data never enters an entry. Domain events carry ids, not values; the ids that
point at a customer are replaced by a salted commitment SHA-256(salt || "customer" ||
id) with a random salt per customer that only the ledger's salt table holds. An erasure
deletes the salt: the commitments in the log can then no longer be tied to anyone, and
no entry — so no proof — changes. A message's entry also commits to what it said, with
the same salt (``data.content``), so an edit of a stored message shows against the log.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cxprism.ledger.canonical import (
    MAX_SAFE_INTEGER,
    CanonicalError,
    canonical,
    canonical_framed,
)

VERSION = 1
LEDGERED_TYPES = frozenset({
    "message.received", "message.sent", "message.status_changed",
    "outbound.sent", "outbound.status_changed", "outbound.suppressed",
    "consent.changed", "customer.merged", "customer.erased",
    "user.created", "user.role_changed", "api_key.created", "api_key.revoked",
})
"""Interactions and commitments: what was said to whom and its outcome, consent, who a
customer is, and who may act in the workspace. Later domains add their types here."""

MESSAGE_TYPES = frozenset({"message.received", "message.sent"})
"""Events whose entry also commits to what the message said (see :func:`content_commitment`)."""

CUSTOMER_FIELDS = frozenset({"customer_id", "winner_id", "loser_id", "merged_ids"})
"""Payload fields that hold customer ids (one, or a list): committed, never stored."""


def customer_texts(payload: Mapping[str, Any]) -> list[str]:
    """The customer ids an event's payload points at, as written there, first mention first."""
    found: dict[str, None] = {}
    for name in sorted(CUSTOMER_FIELDS & payload.keys()):
        value = payload[name]
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                found.setdefault(str(item), None)
    return list(found)


def customer_ids(payload: Mapping[str, Any]) -> list[uuid.UUID]:
    """The customers an event's payload points at, in first-mention order."""
    return [uuid.UUID(text) for text in customer_texts(payload)]


def commitment(salt: bytes, customer_id: uuid.UUID) -> str:
    """The salted commitment that stands for a customer id in entries."""
    digest = hashlib.sha256(salt + b"customer\x00" + customer_id.bytes).hexdigest()
    return f"sha256:{digest}"


def content_commitment(salt: bytes, message_id: uuid.UUID, content: Mapping[str, Any]) -> str:
    """SHA-256(salt || "content" || 0x00 || message id || RFC 8785 content), salted with the
    customer's salt: provable while the person exists, unlinkable after their erasure."""
    digest = hashlib.sha256(salt + b"content\x00" + message_id.bytes + canonical(content))
    return f"sha256:{digest.hexdigest()}"


def committed_payload(payload: Mapping[str, Any],
                      commitments: Mapping[str, str]) -> dict[str, Any]:
    """The payload with every customer id replaced by its commitment (``commitments`` maps
    each id, as :func:`customer_texts` gives it, to :func:`commitment`)."""
    data = dict(payload)
    for name in CUSTOMER_FIELDS & payload.keys():
        value = payload[name]
        if isinstance(value, list):
            data[name] = [None if v is None else commitments[str(v)] for v in value]
        else:
            data[name] = None if value is None else commitments[str(value)]
    return data


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds: one spelling per instant."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def entry_bytes(*, origin: str, index: int, previous: bytes, event_id: uuid.UUID,
                event_type: str, seq: int, occurred_at: datetime,
                data: Mapping[str, Any]) -> bytes:
    """The canonical (RFC 8785) leaf for one event at ``index``, after leaf ``previous``."""
    if not 0 <= index <= MAX_SAFE_INTEGER or not 0 <= seq <= MAX_SAFE_INTEGER:
        raise CanonicalError("an entry's index and seq must be safe integers")
    return canonical_framed({  # the frame is plain by construction: only data is walked
        "v": VERSION, "log": origin, "index": index, "prev": previous.hex(),
        "event": {"id": str(event_id), "type": event_type, "seq": seq,
                  "at": timestamp(occurred_at)},
        "data": data,
    }, data)
