"""The outbox relay: moves committed events to the backend, at least once, in order.

Each workspace's stream is drained by one relay at a time, under a lease on its cursor
row, so any number of processes may run a relay. No database transaction is held while
the backend works. A relay that dies after handing events over but before moving its
cursor hands them over again: delivery is at least once, and consumers are idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import timedelta

from sqlalchemy import func, or_, select, update

from cxprism.bus.backends import EventBackend
from cxprism.bus.events import DomainEvent
from cxprism.bus.models import OutboxEvent, OutboxSequence, RelayCursor
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database, insert_ignore

log = logging.getLogger("cxprism.relay")


class Relay:
    def __init__(self, db: Database, backend: EventBackend, *, owner: str | None = None,
                 batch_size: int = 500, lease: timedelta = timedelta(seconds=30)) -> None:
        self.db = db
        self.backend = backend
        self.owner = owner or f"relay-{uuid.uuid4().hex[:12]}"
        self.batch_size = batch_size
        self.lease = lease
        self.wakeup = asyncio.Event()

    async def run_once(self) -> int:
        """Drain every workspace that has undelivered events; returns events handed over."""
        total = 0
        for workspace_id in await self._pending_workspaces():
            if await self._claim(workspace_id):
                try:
                    total += await self._drain(workspace_id)
                finally:
                    await self._release(workspace_id)
        return total

    async def run(self, stop: asyncio.Event, poll_seconds: float = 0.2) -> None:
        while not stop.is_set():
            try:
                moved = await self.run_once()
            except Exception:
                log.exception("relay pass failed; retrying")
                moved = 0
            if moved == 0:
                self.wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), poll_seconds)

    async def _pending_workspaces(self) -> list[uuid.UUID]:
        relayed = func.coalesce(RelayCursor.relayed_seq, 0)
        stmt = (select(OutboxSequence.workspace_id)
                .outerjoin(RelayCursor, RelayCursor.workspace_id == OutboxSequence.workspace_id)
                .where(OutboxSequence.last_seq > relayed))
        async with self.db.session() as session:
            return list((await session.execute(stmt)).scalars())

    async def _claim(self, workspace_id: uuid.UUID) -> bool:
        now = utcnow()
        async with self.db.session() as session:
            await session.execute(insert_ignore(
                self.db.dialect, RelayCursor,
                {"workspace_id": workspace_id, "relayed_seq": 0}, ["workspace_id"]))
            result = await session.execute(
                update(RelayCursor)
                .where(RelayCursor.workspace_id == workspace_id,
                       or_(RelayCursor.owner.is_(None), RelayCursor.owner == self.owner,
                           RelayCursor.lease_until < now))
                .values(owner=self.owner, lease_until=now + self.lease))
            await session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def _drain(self, workspace_id: uuid.UUID) -> int:
        moved = 0
        while True:
            async with self.db.session() as session:
                cursor = await session.get(RelayCursor, workspace_id)
                assert cursor is not None
                rows = (await session.execute(
                    select(OutboxEvent)
                    .where(OutboxEvent.workspace_id == workspace_id,
                           OutboxEvent.seq > cursor.relayed_seq)
                    .order_by(OutboxEvent.seq).limit(self.batch_size))).scalars().all()
                events = [DomainEvent(r.id, r.workspace_id, r.type, r.payload, r.occurred_at, r.seq)
                          for r in rows]
            if not events:
                return moved
            accepted = await self.backend.publish(events)
            if accepted and not await self._advance(workspace_id, events[accepted - 1].seq):
                return moved  # lease lost to another relay: it carries on from our cursor
            moved += accepted
            if accepted < len(events) or len(events) < self.batch_size:
                return moved

    async def _advance(self, workspace_id: uuid.UUID, seq: int) -> bool:
        async with self.db.session() as session:
            result = await session.execute(
                update(RelayCursor)
                .where(RelayCursor.workspace_id == workspace_id, RelayCursor.owner == self.owner)
                .values(relayed_seq=seq, lease_until=utcnow() + self.lease))
            await session.commit()
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def _release(self, workspace_id: uuid.UUID) -> None:
        async with self.db.session() as session:
            await session.execute(
                update(RelayCursor)
                .where(RelayCursor.workspace_id == workspace_id, RelayCursor.owner == self.owner)
                .values(owner=None, lease_until=None))
            await session.commit()
