"""One timeline per customer: every domain's items about them, newest first, merged.

A domain with things to show on the timeline (tracked events, conversation messages)
registers a :class:`TimelineSource`. The timeline asks each for its newest items before
the cursor and merges them in one total order, (time, kind, key) descending, so pages
never skip or repeat an item whichever source it came from.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import ColumnElement, SQLColumnExpression, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.clock import ensure_utc
from cxprism.kit.errors import Unprocessable


@dataclass(frozen=True)
class Position:
    """Where a page ended: the last item's time, kind and key (its order within kind)."""

    at: datetime
    kind: str
    key: str


@dataclass(frozen=True)
class Bound:
    """What a source returns: items strictly older than ``at``, or at ``at`` with a key
    below ``key`` (``None``: every item at ``at`` qualifies; ``""``: none does)."""

    at: datetime
    key: str | None


@dataclass(frozen=True)
class Entry:
    at: datetime
    kind: str
    key: str
    item: dict[str, Any]


class TimelineSource(Protocol):
    kind: str

    async def newest_first(self, session: AsyncSession, workspace_id: uuid.UUID,
                           customer_id: uuid.UUID, bound: Bound | None,
                           limit: int) -> list[Entry]:
        """The customer's newest items within ``bound``, ordered by (at, key) descending.

        Keys must sort as the source's own order does (zero-padded numbers, say)."""
        ...


_sources: dict[str, TimelineSource] = {}


def register(source: TimelineSource) -> TimelineSource:
    _sources[source.kind] = source  # registering again (a re-import) replaces it
    return source


def within(bound: Bound, at: SQLColumnExpression[Any], key: SQLColumnExpression[Any],
           key_value: Callable[[str], Any]) -> ColumnElement[bool]:
    """A source's filter for ``bound``: rows before ``bound.at``, or at it with a key below
    ``bound.key`` (``key_value`` turns the cursor's key text into the column's type)."""
    if bound.key is None:
        return at <= bound.at
    if bound.key == "":
        return at < bound.at
    return or_(at < bound.at, and_(at == bound.at, key < key_value(bound.key)))


def bound_for(kind: str, after: Position | None) -> Bound | None:
    """The part of ``kind``'s items that comes after ``after`` in the merged order."""
    if after is None:
        return None
    if kind == after.kind:
        return Bound(after.at, after.key)
    # At the same instant, kinds sort descending: a later-sorting kind came first.
    return Bound(after.at, None if kind < after.kind else "")


async def timeline(session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID,
                   cursor: str | None, limit: int) -> tuple[list[Entry], str | None]:
    after = decode_cursor(cursor)
    found: list[Entry] = []
    for kind in sorted(_sources):
        found += await _sources[kind].newest_first(session, workspace_id, customer_id,
                                                   bound_for(kind, after), limit + 1)
    found.sort(key=lambda e: (e.at, e.kind, e.key), reverse=True)
    if len(found) <= limit:
        return found, None
    last = found[limit - 1]
    return found[:limit], encode_cursor(Position(last.at, last.kind, last.key))


def encode_cursor(position: Position) -> str:
    raw = orjson.dumps([ensure_utc(position.at).isoformat(), position.kind, position.key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Position | None:
    if not cursor:
        return None
    try:
        at, kind, key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return Position(ensure_utc(datetime.fromisoformat(at)), str(kind), str(key))
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise Unprocessable(
            "The cursor is not one this API issued; pass next_cursor from a previous page.",
            details={"field": "cursor"}) from None
