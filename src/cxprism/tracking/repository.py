"""Every query of the event store: the batched write side and the read side."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, case, delete, func, or_, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import copy_new_rows, dialect_insert, insert_many_ignore
from cxprism.kit.repository import WorkspaceRepository
from cxprism.kit.sequences import BlockRuns
from cxprism.tracking.models import (
    EventName,
    Group,
    GroupMembership,
    SourceStats,
    TrackedEvent,
)

EVENTS = TrackedEvent.__table__


@dataclass
class StatCounts:
    received: int = 0
    rejected: int = 0
    deduplicated: int = 0
    suppressed: int = 0

    def add(self, other: StatCounts) -> None:
        self.received += other.received
        self.rejected += other.rejected
        self.deduplicated += other.deduplicated
        self.suppressed += other.suppressed


@dataclass
class CatalogueEntry:
    count: int
    first_seen_at: datetime
    last_seen_at: datetime


# --- write side (one ingestion commit, any number of workspaces) -----------------------


SEQ_NAME = "tracked_events_seq"
_SEQS = BlockRuns(SEQ_NAME)


async def reserve_seqs(session: AsyncSession, count: int) -> int:
    """The first of ``count`` unused ``seq`` numbers (unique across workspaces)."""
    return await _SEQS.take(session, count)


async def reserve_seqs_on(driver_connection: Any, count: int) -> int:
    """As reserve_seqs, on PostgreSQL, over an asyncpg connection (tracking.express)."""
    return await _SEQS.take_on(driver_connection, count)


def forget_reserved_seqs() -> None:
    _SEQS.forget()


async def insert_events(session: AsyncSession, rows: Sequence[dict[str, Any]], *,
                        optimistic: bool = False) -> list[str]:
    """Store rows whose message id is new to their workspace; the message ids stored.

    ``optimistic``: load them as if none were stored already (kit.db.copy_new_rows, far
    cheaper for the database), raising RowsConflict, with the transaction aborted, if one
    was. A message id twice among ``rows`` is stored once either way, the first row.
    """
    if optimistic:
        ids = [row["message_id"] for row in rows]
        if len(set(ids)) < len(ids):  # rare: keep the first row of each id, in order
            first_of_each: dict[str, dict[str, Any]] = {}
            for row in rows:
                first_of_each.setdefault(row["message_id"], row)
            ids, rows = list(first_of_each), list(first_of_each.values())
        await copy_new_rows(session, EVENTS, rows)  # type: ignore[arg-type]
        return ids
    return await insert_many_ignore(session, EVENTS, rows,  # type: ignore[arg-type]
                                    ["workspace_id", "message_id"], "message_id")


async def add_stats(session: AsyncSession, workspace_id: uuid.UUID, source_id: uuid.UUID,
                    counts: StatCounts, at: datetime) -> None:
    dialect = session.get_bind().dialect.name
    table = SourceStats.__table__
    stmt: Any = dialect_insert(dialect, table).values(
        workspace_id=workspace_id, source_id=source_id, received=counts.received,
        rejected=counts.rejected, deduplicated=counts.deduplicated,
        suppressed=counts.suppressed, last_received_at=at)
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["workspace_id", "source_id"],
        set_={name: getattr(SourceStats, name) + getattr(counts, name)
              for name in ("received", "rejected", "deduplicated", "suppressed")}
        | {"last_received_at": at}))


async def add_to_catalogue(session: AsyncSession, workspace_id: uuid.UUID,
                           entries: dict[tuple[str, str], CatalogueEntry]) -> None:
    """One upsert for all of a commit's names, in key order (a fixed lock order)."""
    dialect = session.get_bind().dialect.name
    stmt: Any = dialect_insert(dialect, EventName.__table__).values([
        {"workspace_id": workspace_id, "type": type_, "name": name, "count": entry.count,
         "first_seen_at": entry.first_seen_at, "last_seen_at": entry.last_seen_at}
        for (type_, name), entry in sorted(entries.items())])
    new = stmt.excluded
    await session.execute(stmt.on_conflict_do_update(
        index_elements=["workspace_id", "type", "name"],
        set_={"count": EventName.count + new.count,
              "first_seen_at": case((new.first_seen_at < EventName.first_seen_at,
                                     new.first_seen_at), else_=EventName.first_seen_at),
              "last_seen_at": case((new.last_seen_at > EventName.last_seen_at,
                                    new.last_seen_at), else_=EventName.last_seen_at)}))


# --- read side ---------------------------------------------------------------------------


class EventRepository(WorkspaceRepository[TrackedEvent]):
    model = TrackedEvent

    async def name_counts(self, first: int, last: int) -> dict[tuple[str, str], CatalogueEntry]:
        """The catalogue's part of a range: count and first/last arrival per (type, name)."""
        name = func.coalesce(TrackedEvent.name, "")
        rows = await self.session.execute(
            select(TrackedEvent.type, name, func.count(), func.min(TrackedEvent.received_at),
                   func.max(TrackedEvent.received_at))
            .where(TrackedEvent.workspace_id == self.workspace_id,
                   TrackedEvent.seq.between(first, last))
            .group_by(TrackedEvent.type, name))
        return {(type_, name_): CatalogueEntry(count, first_at, last_at)
                for type_, name_, count, first_at, last_at in rows}

    async def linking_rows(self, first: int, last: int) -> list[dict[str, Any]]:
        """What identity resolution needs from a range: each distinct (user id, anonymous
        id) of plain events, and identify/group/alias events whole, in order."""
        in_range = (TrackedEvent.workspace_id == self.workspace_id,
                    TrackedEvent.seq.between(first, last))
        pairs = await self.session.execute(
            select(TrackedEvent.user_id, TrackedEvent.anonymous_id).distinct()
            .where(*in_range, TrackedEvent.user_id.is_not(None),
                   TrackedEvent.type.in_(("track", "page", "screen"))))
        rows: list[dict[str, Any]] = [
            {"type": "track", "user_id": user_id, "anonymous_id": anonymous_id,
             "previous_id": None, "group_id": None, "traits": {}}
            for user_id, anonymous_id in pairs]
        named = await self.session.execute(
            self.select().where(*in_range[1:], TrackedEvent.type.in_(
                ("identify", "group", "alias"))).order_by(TrackedEvent.seq))
        rows += [{"type": e.type, "user_id": e.user_id, "anonymous_id": e.anonymous_id,
                  "previous_id": e.previous_id, "group_id": e.group_id,
                  "timestamp": e.timestamp, "traits": e.payload.get("traits") or {}}
                 for e in named.scalars()]
        return rows

    async def all_of(self, user_ids: Sequence[str],
                     anonymous_ids: Sequence[str]) -> Sequence[TrackedEvent]:
        stmt = self.select().where(of_ids(user_ids, anonymous_ids)).order_by(TrackedEvent.seq)
        return list((await self.session.execute(stmt)).scalars())

    async def delete_of(self, user_ids: Sequence[str], anonymous_ids: Sequence[str]) -> None:
        await self.session.execute(delete(TrackedEvent).where(
            TrackedEvent.workspace_id == self.workspace_id, of_ids(user_ids, anonymous_ids)))

    async def newest_first(self, conditions: Sequence[ColumnElement[bool]],
                           before: tuple[datetime, int] | None,
                           limit: int) -> Sequence[TrackedEvent]:
        stmt = self.select().where(*conditions)
        if before is not None:
            stmt = stmt.where(tuple_(TrackedEvent.timestamp, TrackedEvent.seq) < before)
        stmt = stmt.order_by(TrackedEvent.timestamp.desc(), TrackedEvent.seq.desc())
        return list((await self.session.execute(stmt.limit(limit))).scalars())


def of_ids(user_ids: Sequence[str], anonymous_ids: Sequence[str]) -> ColumnElement[bool]:
    """Events sent under any of these ids (a profile's external and anonymous ids)."""
    return or_(TrackedEvent.user_id.in_(user_ids), TrackedEvent.anonymous_id.in_(anonymous_ids))


class CatalogueRepository(WorkspaceRepository[EventName]):
    model = EventName

    async def listing(self, type_: str | None) -> Sequence[EventName]:
        stmt = self.select()
        if type_ is not None:
            stmt = stmt.where(EventName.type == type_)
        stmt = stmt.order_by(EventName.count.desc(), EventName.type, EventName.name)
        return list((await self.session.execute(stmt)).scalars())


class StatsRepository(WorkspaceRepository[SourceStats]):
    model = SourceStats

    async def of_source(self, source_id: uuid.UUID) -> SourceStats | None:
        return await self.one_or_none(SourceStats.source_id == source_id)


class GroupRepository(WorkspaceRepository[Group]):
    model = Group

    async def by_group_id(self, group_id: str) -> Group | None:
        return await self.one_or_none(Group.group_id == group_id)

    async def upsert(self, group_id: str, traits: dict[str, Any], at: datetime) -> None:
        found = await self.by_group_id(group_id)
        if found is None:
            self.add(Group(group_id=group_id, traits=traits, first_seen_at=at, last_seen_at=at))
        elif at >= found.last_seen_at:
            found.traits, found.last_seen_at = {**found.traits, **traits}, at
        await self.flush()

    async def join(self, group_id: str, id_kind: str, member_id: str, at: datetime) -> None:
        stmt: Any = dialect_insert(self.dialect, GroupMembership.__table__).values(
            workspace_id=self.workspace_id, group_id=group_id, id_kind=id_kind,
            member_id=member_id, joined_at=at, last_seen_at=at)
        await self.session.execute(stmt.on_conflict_do_update(
            index_elements=["workspace_id", "group_id", "id_kind", "member_id"],
            set_={"last_seen_at": case((stmt.excluded.last_seen_at > GroupMembership.last_seen_at,
                                        stmt.excluded.last_seen_at),
                                       else_=GroupMembership.last_seen_at)}))

    async def groups_of(self, user_ids: Sequence[str],
                        anonymous_ids: Sequence[str]) -> Sequence[tuple[Group, datetime]]:
        stmt = (select(Group, GroupMembership.joined_at)
                .join(GroupMembership, (GroupMembership.workspace_id == Group.workspace_id)
                      & (GroupMembership.group_id == Group.group_id))
                .where(Group.workspace_id == self.workspace_id,
                       or_((GroupMembership.id_kind == "user_id")
                           & GroupMembership.member_id.in_(user_ids),
                           (GroupMembership.id_kind == "anonymous_id")
                           & GroupMembership.member_id.in_(anonymous_ids)))
                .order_by(Group.group_id))
        rows = (await self.session.execute(stmt)).all()
        first: dict[str, tuple[Group, datetime]] = {}
        for group, joined in rows:
            if group.group_id not in first or joined < first[group.group_id][1]:
                first[group.group_id] = (group, joined)
        return list(first.values())

    async def leave_all(self, user_ids: Sequence[str], anonymous_ids: Sequence[str]) -> None:
        await self.session.execute(delete(GroupMembership).where(
            GroupMembership.workspace_id == self.workspace_id,
            or_((GroupMembership.id_kind == "user_id") & GroupMembership.member_id.in_(user_ids),
                (GroupMembership.id_kind == "anonymous_id")
                & GroupMembership.member_id.in_(anonymous_ids))))

    async def members(self, group_id: str, limit: int) -> Sequence[GroupMembership]:
        stmt = (select(GroupMembership)
                .where(GroupMembership.workspace_id == self.workspace_id,
                       GroupMembership.group_id == group_id)
                .order_by(GroupMembership.joined_at).limit(limit))
        return list((await self.session.execute(stmt)).scalars())
