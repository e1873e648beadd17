"""Segment's four timestamps and its clock-skew correction: pure functions, no I/O.

- ``receivedAt``: when our server received the request (never taken from the client).
- ``sentAt``: the device clock when the SDK sent the request (per message, or the batch's).
- ``originalTimestamp``: the device clock when the call happened. Server-side SDKs (and
  analytics-python) send it as ``timestamp``; we read ``originalTimestamp`` first.
- ``timestamp``: when it happened, corrected for the device clock's skew:
  ``receivedAt - (sentAt - originalTimestamp)``. Without ``sentAt`` the device time is
  taken as sent (historical imports, server libraries); with no time at all, ``receivedAt``.

``/v1/import`` is for history: its times are trusted as sent, never corrected.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

MAX_TIMESTAMP_LENGTH = 64


class BadTimestamp(ValueError):
    """The value is not an ISO-8601 date-time; the message names the field."""


class Times(NamedTuple):  # one per message: a frozen dataclass costs three times as much
    timestamp: datetime
    original_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime


def parse_iso8601(value: object, field: str) -> datetime | None:
    """An aware UTC datetime; None for a missing value. A zone-less time is read as UTC."""
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > MAX_TIMESTAMP_LENGTH:
        raise BadTimestamp(f"{field} must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise BadTimestamp(f"{field} is not an ISO-8601 date-time: {value!r}") from None


def resolve_times(original: datetime | None, sent_at: datetime | None,
                  received_at: datetime, *, correct_skew: bool = True) -> Times:
    return Times(corrected_timestamp(original, sent_at, received_at, correct_skew),
                 original, sent_at, received_at)


def corrected_timestamp(original: datetime | None, sent_at: datetime | None,
                        received_at: datetime, correct_skew: bool = True) -> datetime:
    """When it happened: the device time corrected for the device clock's skew."""
    if original is None:
        return received_at
    if sent_at is not None and correct_skew:
        try:
            return received_at - (sent_at - original)
        except OverflowError:
            raise BadTimestamp("sentAt and timestamp are too far apart to correct "
                               "for clock skew") from None
    return original
