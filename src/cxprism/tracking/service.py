"""Reading the event store: timelines, event search, the catalogue, counters, groups."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, false
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers.identities import IdentityKind
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import ensure_utc
from cxprism.kit.errors import NotFound, Unprocessable
from cxprism.tracking import repository as repo
from cxprism.tracking.messages import TYPES
from cxprism.tracking.models import EventName, Group, GroupMembership, SourceStats, TrackedEvent
from cxprism.workspaces.service import WorkspaceService

Position = tuple[datetime, int]


@dataclass(frozen=True)
class EventFilter:
    customer_id: uuid.UUID | None = None
    name: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None


class TrackingService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.events = repo.EventRepository(session, workspace_id)
        self.groups = repo.GroupRepository(session, workspace_id)

    async def ids_of_customer(self, customer_id: uuid.UUID) -> tuple[list[str], list[str]]:
        """The user and anonymous ids a profile (live; 404/410 otherwise) was tracked under."""
        customers = CustomerService(self.session, self.workspace_id)
        customer = await customers.get(customer_id)
        identities = await customers.identities_of(customer.id)
        return ([i.value for i in identities if i.kind == IdentityKind.EXTERNAL_ID.value],
                [i.value for i in identities if i.kind == IdentityKind.ANONYMOUS_ID.value])

    async def search(self, query: EventFilter, cursor: str | None,
                     limit: int) -> tuple[Sequence[TrackedEvent], str | None]:
        """Newest first; the cursor continues after the last event of the page."""
        conditions = await self._conditions(query)
        found = await self.events.newest_first(conditions, decode_position(cursor), limit + 1)
        if len(found) <= limit:
            return found, None
        last = found[limit - 1]
        return found[:limit], encode_position((last.timestamp, last.seq))

    async def _conditions(self, query: EventFilter) -> list[ColumnElement[bool]]:
        conditions: list[ColumnElement[bool]] = []
        if query.customer_id is not None:
            user_ids, anonymous_ids = await self.ids_of_customer(query.customer_id)
            conditions.append(repo.of_ids(user_ids, anonymous_ids)
                              if user_ids or anonymous_ids else false())
        if query.type is not None:
            if query.type not in TYPES:
                raise Unprocessable(f"type must be one of {', '.join(sorted(TYPES))}.",
                                    details={"field": "type"})
            conditions.append(TrackedEvent.type == query.type)
        if query.name is not None:
            conditions.append(TrackedEvent.name == query.name)
        if query.since is not None:
            conditions.append(TrackedEvent.timestamp >= ensure_utc(query.since))
        if query.until is not None:
            conditions.append(TrackedEvent.timestamp < ensure_utc(query.until))
        return conditions

    # Consumers: one commit's range of events at a time ----------------------------------

    async def linking_rows(self, first: int, last: int) -> list[dict[str, Any]]:
        return await self.events.linking_rows(first, last)

    async def add_source_stats(self, totals: dict[uuid.UUID, repo.StatCounts],
                               last_at: dict[uuid.UUID, datetime]) -> None:
        """Add to each source's counters, in source order (a fixed lock order)."""
        for source_id in sorted(totals):
            await repo.add_stats(self.session, self.workspace_id, source_id, totals[source_id],
                                 last_at[source_id])

    async def count_names(self, first: int, last: int) -> None:
        """Add a commit's events to the catalogue: one grouped read and one upsert."""
        counts = await self.events.name_counts(first, last)
        if counts:
            await repo.add_to_catalogue(self.session, self.workspace_id, counts)

    async def record_group_calls(self, rows: Sequence[dict[str, Any]]) -> None:
        """Accounts' latest traits, and who was seen in each (by tracking id)."""
        for row in rows:
            if row["type"] != "group":
                continue
            at = row["timestamp"]
            await self.groups.upsert(row["group_id"], dict(row.get("traits") or {}), at)
            for kind in ("user_id", "anonymous_id"):
                if row[kind] is not None:
                    await self.groups.join(row["group_id"], kind, row[kind], at)

    # A person's events, for their export and erasure ------------------------------------

    async def events_of_ids(self, user_ids: Sequence[str],
                            anonymous_ids: Sequence[str]) -> Sequence[TrackedEvent]:
        return await self.events.all_of(user_ids, anonymous_ids)

    async def forget_ids(self, user_ids: Sequence[str], anonymous_ids: Sequence[str]) -> None:
        await self.events.delete_of(user_ids, anonymous_ids)
        await self.groups.leave_all(user_ids, anonymous_ids)

    async def catalogue(self, type_: str | None) -> Sequence[EventName]:
        return await repo.CatalogueRepository(self.session, self.workspace_id).listing(type_)

    async def source_stats(self, source_id: uuid.UUID) -> SourceStats:
        await WorkspaceService(self.session, self.workspace_id).get_source(source_id)  # 404
        stats = await repo.StatsRepository(self.session, self.workspace_id).of_source(source_id)
        return stats or SourceStats(workspace_id=self.workspace_id, source_id=source_id,
                                    received=0, rejected=0, deduplicated=0, suppressed=0)

    async def groups_of_customer(self, customer_id: uuid.UUID) -> Sequence[Group]:
        user_ids, anonymous_ids = await self.ids_of_customer(customer_id)
        return [group for group, _ in await self.groups.groups_of(user_ids, anonymous_ids)]

    async def group(self, group_id: str,
                    member_limit: int) -> tuple[Group, Sequence[GroupMembership]]:
        group = await self.groups.by_group_id(group_id)
        if group is None:
            raise NotFound("Group not found.", details={"group_id": group_id})
        return group, await self.groups.members(group_id, member_limit)


def encode_position(position: Position) -> str:
    raw = orjson.dumps([position[0].isoformat(), position[1]])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str | None) -> Position | None:
    if not cursor:
        return None
    try:
        at, seq = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return ensure_utc(datetime.fromisoformat(at)), int(seq)
    except (binascii.Error, ValueError, TypeError, orjson.JSONDecodeError):
        raise Unprocessable(
            "The cursor is not one this API issued; pass next_cursor from a previous page.",
            details={"field": "cursor"}) from None
