"""Validating Segment messages into event rows: pure functions, no I/O.

One message becomes one row, or one rejection naming its index and a reason that says
what to fix. A batch keeps its valid messages. The whole message, as sent (less any
``writeKey``: a credential), is kept as the row's ``payload`` (serialised once, here); the
columns the store filters and joins on are extracted beside it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from cxprism.customers.identities import IdentityKind, InvalidIdentity, normalise_opaque_id
from cxprism.kit.db import JSONText
from cxprism.tracking.timestamps import BadTimestamp, parse_iso8601, resolve_times

MAX_MESSAGE_BYTES = 32 * 1024  # Segment's limit per message
MAX_BATCH_BYTES = 500 * 1024  # Segment's limit per batch request
MAX_BATCH_MESSAGES = 2500
MAX_ID_LENGTH = 255
MAX_NAME_LENGTH = 255
TYPES = frozenset({"track", "identify", "page", "screen", "group", "alias"})
OBJECT_FIELDS = ("context", "properties", "traits", "integrations")


class Rejected(ValueError):
    """This message cannot be stored; the text says why."""


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "reason": self.reason}


@dataclass(frozen=True)
class Envelope:
    """What the request, not the message, tells: its time of arrival and batch-level fields."""

    received_at: datetime
    sent_at: object = None  # the batch's sentAt, for messages without their own
    correct_skew: bool = True  # /v1/import trusts historical times as sent


def validate_batch(messages: object, envelope: Envelope,
                   forced_type: str | None = None) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Rows for the valid messages and a rejection for each invalid one, by index."""
    if not isinstance(messages, list):
        raise Rejected("batch must be an array of messages")
    if len(messages) > MAX_BATCH_MESSAGES:
        raise Rejected(f"a batch holds at most {MAX_BATCH_MESSAGES} messages")
    rows: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    for index, message in enumerate(messages):
        try:
            rows.append(to_row(message, envelope, forced_type))
        except (Rejected, BadTimestamp) as exc:
            rejections.append(Rejection(index, str(exc)))
    return rows, rejections


def to_row(message: object, envelope: Envelope, forced_type: str | None = None) -> dict[str, Any]:
    if not isinstance(message, dict):
        raise Rejected("a message must be a JSON object")
    message.pop("writeKey", None)
    payload = orjson.dumps(message)
    if len(payload) > MAX_MESSAGE_BYTES:
        raise Rejected(f"message is {len(payload)} bytes; the limit is {MAX_MESSAGE_BYTES}")
    if b"\\u0000" in payload and _has_nul(message):
        raise Rejected("message contains a NUL character (\\u0000), which cannot be stored")
    type_ = _type_of(message, forced_type)
    user_id = opaque_id(message.get("userId"), "userId")
    anonymous_id = opaque_id(message.get("anonymousId"), "anonymousId")
    if user_id is None and anonymous_id is None:
        raise Rejected("message needs a userId or an anonymousId")
    for field in OBJECT_FIELDS:
        if message.get(field) is not None and not isinstance(message[field], dict):
            raise Rejected(f"{field} must be an object")
    times = resolve_times(
        parse_iso8601(message.get("originalTimestamp") or message.get("timestamp"),
                      "originalTimestamp" if "originalTimestamp" in message else "timestamp"),
        parse_iso8601(message.get("sentAt", envelope.sent_at), "sentAt"),
        envelope.received_at, correct_skew=envelope.correct_skew)
    return {
        "message_id": message_id_of(message.get("messageId")),
        "type": type_,
        "name": _name_of(message, type_),
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "group_id": _required_id(message, "groupId") if type_ == "group" else None,
        "previous_id": _required_id(message, "previousId") if type_ == "alias" else None,
        "timestamp": times.timestamp,
        "original_timestamp": times.original_timestamp,
        "sent_at": times.sent_at,
        "received_at": times.received_at,
        "payload": JSONText(payload, message),
    }


def _type_of(message: dict[str, Any], forced_type: str | None) -> str:
    type_ = message.get("type", forced_type)
    if forced_type is not None and type_ != forced_type:
        raise Rejected(f"type is {_short(type_)}, but this endpoint takes {forced_type!r} "
                       f"messages")
    if not isinstance(type_, str) or type_ not in TYPES:
        raise Rejected(f"type must be one of {', '.join(sorted(TYPES))}; got {_short(type_)}")
    return str(type_)


def _short(value: object) -> str:
    """A caller's value quoted in a reason, never the whole of a 32 KB one."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def opaque_id(value: object, field: str) -> str | None:
    """Segment ids are strings; SDKs also send numbers. Blank means absent.

    Normalised as the customers domain stores identities (trimmed, no control characters),
    so an event's ``user_id`` equals the external id of the profile it belongs to.
    """
    if value is None:
        return None
    if type(value) is str and in_normal_form(value):
        return value  # the common case, already as normalised: nothing to trim or refuse
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Rejected(f"{field} must be a string")
    text = (value if isinstance(value, str) else str(value)).strip()
    if not text:
        return None
    try:
        return normalise_opaque_id(text, IdentityKind.EXTERNAL_ID)
    except InvalidIdentity:
        raise Rejected(f"{field} must be at most {MAX_ID_LENGTH} characters, "
                       f"without control characters") from None


def in_normal_form(value: str) -> bool:
    """An id exactly as the customers domain would store it: 1 to 255 printable
    characters, nothing to trim."""
    return (0 < len(value) <= MAX_ID_LENGTH and value.isprintable()
            and not value[0].isspace() and not value[-1].isspace())


def _required_id(message: dict[str, Any], field: str) -> str:
    value = opaque_id(message.get(field), field)
    if value is None:
        raise Rejected(f"this message type needs {field}")
    return value


def message_id_of(value: object) -> str:
    """The client's dedup key; a message without one cannot be deduplicated, so gets ours."""
    found = opaque_id(value, "messageId")
    return found if found is not None else new_message_id()


def new_message_id() -> str:
    return f"cxprism-{uuid.uuid4()}"


def _name_of(message: dict[str, Any], type_: str) -> str | None:
    if type_ == "track":
        event = message.get("event")
        if not isinstance(event, str) or not event.strip():
            raise Rejected("a track message needs an event name (a non-empty string)")
        return bounded_name(event, "event")
    if type_ in ("page", "screen"):
        name = message.get("name")
        if name is None or name == "":
            return None
        if not isinstance(name, str):
            raise Rejected("name must be a string")
        return bounded_name(name, "name")
    return None


def bounded_name(name: str, field: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise Rejected(f"{field} is longer than {MAX_NAME_LENGTH} characters")
    return name


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False
