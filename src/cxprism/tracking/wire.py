"""Segment messages read straight from the request's bytes: the hot path of ingestion.

A batch of 100 browser events is ~70 KB of JSON whose bulk (``context``, ``properties``,
``traits``) is stored as sent and never looked into here. Parsing all of it into dicts,
checking each message field by field in Python and serialising it again for the row cost
most of a request's time on the event loop. Here msgspec reads the whole batch in C twice:
once cut into one raw slice per message (the slice becomes the stored ``payload``), once
into the few fields a row needs, already checked against the common shape (a known type,
ids and names as strings of 1 to 255 characters, timestamps as strings, objects skipped).

Only what passes that check and the few checks left to Python is taken here, and taken
exactly as :func:`messages.to_row` would take it. Any other message (a ``writeKey`` inside
it, a NUL escape, a number as an id, any reason to reject) goes to ``to_row``, whose answer
is the one given; a batch whose fields do not all fit the shape has each message checked
on its own. A property test holds the two paths to the same rows and rejections.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
import orjson
from msgspec import UNSET, Meta, Raw, UnsetType

from cxprism.kit.db import JSONText
from cxprism.tracking.messages import (
    MAX_BATCH_MESSAGES,
    MAX_ID_LENGTH,
    MAX_MESSAGE_BYTES,
    MAX_NAME_LENGTH,
    Envelope,
    Rejected,
    Rejection,
    in_normal_form,
    new_message_id,
    to_row,
)
from cxprism.tracking.timestamps import (
    MAX_TIMESTAMP_LENGTH,
    BadTimestamp,
    corrected_timestamp,
    parse_iso8601,
)

_Id = Annotated[str, Meta(min_length=1, max_length=MAX_ID_LENGTH)]
_Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_LENGTH)]
_Time = Annotated[str, Meta(min_length=1, max_length=MAX_TIMESTAMP_LENGTH)]
_Type = Literal["track", "identify", "page", "screen", "group", "alias"]


class _AnyObject(msgspec.Struct, gc=False):
    """A JSON object, whatever it holds: checked and skipped in C, never built."""


class _Fields(msgspec.Struct, gc=False):
    """The fields a row needs, in the common shape."""

    type: _Type | UnsetType = UNSET
    messageId: _Id | None = None  # Segment's names
    userId: _Id | None = None
    anonymousId: _Id | None = None
    event: _Name | None = None
    name: _Name | None = None
    timestamp: _Time | None = None
    originalTimestamp: _Time | None = None
    sentAt: _Time | UnsetType | None = UNSET
    groupId: _Id | None = None
    previousId: _Id | None = None
    writeKey: Any = UNSET
    context: _AnyObject | None = None
    properties: _AnyObject | None = None
    traits: _AnyObject | None = None
    integrations: _AnyObject | None = None


class _Slices(msgspec.Struct, gc=False):
    batch: list[Raw]
    sentAt: Any = None
    writeKey: Any = None


class _FieldsBatch(msgspec.Struct, gc=False):
    batch: list[_Fields]


_read_slices = msgspec.json.Decoder(_Slices).decode
_read_fields = msgspec.json.Decoder(_Fields).decode
_read_fields_batch = msgspec.json.Decoder(_FieldsBatch).decode
_DECODE_ERRORS = (msgspec.DecodeError, msgspec.ValidationError)


class RawBody:
    """A request body cut into raw messages, with their fields where the whole body fits
    the common shape. :meth:`read` gives None for a body that is not the plain shape (not
    an object, no ``batch`` array, ...): the caller then parses it whole, with its exact
    errors."""

    __slots__ = ("fields", "messages", "plain_text", "sent_at", "write_key")

    def __init__(self, body: bytes, messages: list[bytes] | list[Raw],
                 fields: list[_Fields] | None, sent_at: object, write_key: object) -> None:
        self.messages = messages
        self.fields = fields
        self.sent_at = sent_at
        self.write_key = write_key
        # One look at the whole body spares one per message (see _plain).
        self.plain_text = body.isascii() and b"\\u0000" not in body

    @classmethod
    def read(cls, body: bytes, forced_type: str | None) -> RawBody | None:
        if forced_type is not None:  # the body is the message
            try:
                fields = _read_fields(body)
            except _DECODE_ERRORS:
                return None
            write_key = None if fields.writeKey is UNSET else fields.writeKey
            return cls(body, [body.strip()], [fields], None, write_key)
        try:
            slices = _read_slices(body)
        except _DECODE_ERRORS:
            return None
        if len(slices.batch) > MAX_BATCH_MESSAGES:
            return None
        try:
            batch: list[_Fields] | None = _read_fields_batch(body).batch
        except _DECODE_ERRORS:
            batch = None  # some message is not the common shape: each is read alone
        return cls(body, slices.batch, batch, slices.sentAt, slices.writeKey)


def validate_raw(body: RawBody, envelope: Envelope, forced_type: str | None = None
                 ) -> tuple[list[dict[str, Any]], list[Rejection]]:
    """Rows for the valid messages and a rejection for each invalid one, by index: the same
    as ``messages.validate_batch`` gives for the parsed body."""
    rows: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    times: dict[str, datetime | None] = {}  # a batch's messages share their sentAt
    for index, raw in enumerate(body.messages):
        text = bytes(raw)
        fields = body.fields[index] if body.fields is not None else _fields_of(text)
        plain = len(text) <= MAX_MESSAGE_BYTES and (body.plain_text or _plain(text))
        row = (_quick_row(fields, text, envelope, forced_type, times)
               if fields is not None and plain else None)
        try:
            rows.append(row if row is not None else _slow_row(text, envelope, forced_type))
        except (Rejected, BadTimestamp) as exc:
            rejections.append(Rejection(index, str(exc)))
    return rows, rejections


def _fields_of(text: bytes) -> _Fields | None:
    try:
        return _read_fields(text)
    except _DECODE_ERRORS:
        return None


def _slow_row(text: bytes, envelope: Envelope, forced_type: str | None) -> dict[str, Any]:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError as exc:  # what msgspec let through and orjson does not
        raise Rejected(f"message is not JSON that can be stored: {exc}") from None
    return to_row(message, envelope, forced_type)


def _plain(text: bytes) -> bool:
    """No NUL escape to look into, and UTF-8 that PostgreSQL takes."""
    if b"\\u0000" in text:
        return False
    if text.isascii():
        return True
    try:
        text.decode()
    except UnicodeDecodeError:
        return False
    return True


def _quick_row(fields: _Fields, text: bytes, envelope: Envelope, forced_type: str | None,
               times: dict[str, datetime | None]) -> dict[str, Any] | None:
    """The row ``to_row`` would make, or None where only ``to_row`` can say (it then
    decides, and explains: its reasons name the fields as the message does)."""
    try:
        return _row(fields, text, envelope, forced_type, times)
    except (Rejected, BadTimestamp):
        return None


def _row(fields: _Fields, text: bytes, envelope: Envelope, forced_type: str | None,
         times: dict[str, datetime | None]) -> dict[str, Any] | None:
    type_ = forced_type if fields.type is UNSET else fields.type
    user_id, anonymous_id = fields.userId, fields.anonymousId
    if (type_ is None or (forced_type is not None and type_ != forced_type)
            or fields.writeKey is not UNSET or (user_id is None and anonymous_id is None)
            or not (_normal(user_id) and _normal(anonymous_id) and _normal(fields.messageId))):
        return None
    name = _name(fields, type_)
    group_id = fields.groupId if type_ == "group" else None
    previous_id = fields.previousId if type_ == "alias" else None
    if (name is UNSET or (type_ == "group" and not _normal(group_id, required=True))
            or (type_ == "alias" and not _normal(previous_id, required=True))):
        return None
    original = parse_iso8601(fields.originalTimestamp or fields.timestamp, "timestamp")
    sent_at = _shared_time(envelope.sent_at if fields.sentAt is UNSET else fields.sentAt, times)
    return {
        "message_id": fields.messageId or new_message_id(),  # checked above
        "type": type_,
        "name": name,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "group_id": group_id,
        "previous_id": previous_id,
        "timestamp": corrected_timestamp(original, sent_at, envelope.received_at,
                                         envelope.correct_skew),
        "original_timestamp": original,
        "sent_at": sent_at,
        "received_at": envelope.received_at,
        "payload": JSONText(text),
    }


def _normal(value: str | None, *, required: bool = False) -> bool:
    """Absent (unless required), or an id already in the form the customers domain stores
    (messages.opaque_id's fast case); anything else is for ``to_row`` to judge."""
    return not required if value is None else in_normal_form(value)


def _name(fields: _Fields, type_: str) -> str | UnsetType | None:
    """As messages.name_of; UNSET where it would reject."""
    if type_ == "track":
        event = fields.event
        return event if event is not None and event.strip() else UNSET
    if type_ in ("page", "screen"):
        return fields.name
    return None


def _shared_time(value: object, times: dict[str, datetime | None]) -> datetime | None:
    if type(value) is not str:
        return parse_iso8601(value, "sentAt")
    found = times.get(value, UNSET)
    if found is UNSET:
        found = times[value] = parse_iso8601(value, "sentAt")
    return found


