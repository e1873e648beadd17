"""Consumer registry and idempotent delivery.

A consumer is a named handler for some event types (``customer.merged``, ``customer.*``
or ``*``). :func:`deliver` runs it in its own transaction together with a receipt in
``processed_events``; a redelivered event finds the receipt and is skipped, so handlers
see each event once even though the bus delivers at least once.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.events import DomainEvent
from cxprism.bus.models import ConsumerFailure, ProcessedEvent
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database, insert_ignore

log = logging.getLogger("cxprism.bus")

Handler = Callable[[AsyncSession, DomainEvent], Awaitable[None]]
BatchHandler = Callable[[AsyncSession, Sequence[DomainEvent]], Awaitable[None]]
MAX_ATTEMPTS = 8
BASE_RETRY = timedelta(seconds=1)


@dataclass(frozen=True)
class Consumer:
    name: str
    patterns: tuple[str, ...]
    handler: Handler
    batch_handler: BatchHandler | None = None
    """Takes a whole relayed batch at once (the ledger hashes a batch per commit)."""

    async def handle(self, session: AsyncSession, events: Sequence[DomainEvent]) -> None:
        if self.batch_handler is not None:
            if events:
                await self.batch_handler(session, events)
            return
        for event in events:
            await self.handler(session, event)

    def wants(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.patterns)


@dataclass
class ConsumerRegistry:
    consumers: dict[str, Consumer] = field(default_factory=dict)

    def register(self, name: str, *patterns: str) -> Callable[[Handler], Handler]:
        def decorate(handler: Handler) -> Handler:
            if name in self.consumers:
                raise ValueError(f"consumer {name!r} is registered twice")
            self.consumers[name] = Consumer(name, patterns, handler)
            return handler

        return decorate

    def register_batch(self, name: str,
                       *patterns: str) -> Callable[[BatchHandler], BatchHandler]:
        """A consumer that gets all its new events of a relayed batch in one call, in
        order, in the same one transaction (one event at a time on the careful path)."""

        def decorate(handler: BatchHandler) -> BatchHandler:
            if name in self.consumers:
                raise ValueError(f"consumer {name!r} is registered twice")

            async def one(session: AsyncSession, event: DomainEvent) -> None:
                await handler(session, [event])

            self.consumers[name] = Consumer(name, patterns, one, handler)
            return handler

        return decorate

    def for_type(self, event_type: str) -> list[Consumer]:
        return [c for c in self.consumers.values() if c.wants(event_type)]


class Outcome(Enum):
    DONE = "done"
    RETRY = "retry"


async def deliver(db: Database, consumer: Consumer, event: DomainEvent) -> Outcome:
    """Run ``consumer`` on ``event`` exactly once in effect; RETRY means try again later."""
    async with db.session() as session:
        if await _is_waiting(session, consumer.name, event):
            return Outcome.RETRY
        receipt = insert_ignore(db.dialect, ProcessedEvent,
                                {"consumer": consumer.name, "event_id": event.id},
                                ["consumer", "event_id"])
        if (await session.execute(receipt)).rowcount == 0:  # type: ignore[attr-defined]
            return Outcome.DONE
        try:
            await consumer.handler(session, event)
            await session.commit()
            return Outcome.DONE
        except Exception as exc:
            await session.rollback()
            log.warning("consumer %s failed on %s: %r", consumer.name, event.id, exc)
            return await _record_failure(db, consumer.name, event, repr(exc))


async def deliver_many(db: Database, consumer: Consumer, events: Sequence[DomainEvent]) -> int:
    """Run ``consumer`` on ``events`` (one workspace's, in order) exactly once in effect;
    how many, from the start, are done (the rest wait for a retry).

    The common case costs one transaction for them all: receipts in one insert, every
    handler in turn, one commit. A failing handler, or an event already waiting for a
    retry, sends the whole batch down the careful path: one transaction per event, as
    :func:`deliver` does, which keeps the order and records the failure.
    """
    if await _together(db, consumer, events):
        return len(events)
    for done, event in enumerate(events):
        if await deliver(db, consumer, event) is Outcome.RETRY:
            return done
    return len(events)


async def _together(db: Database, consumer: Consumer, events: Sequence[DomainEvent]) -> bool:
    ids = [event.id for event in events]
    async with db.session() as session:
        failing = await session.execute(
            select(ConsumerFailure.event_id).where(ConsumerFailure.consumer == consumer.name,
                                                   ConsumerFailure.event_id.in_(ids)).limit(1))
        if failing.first() is not None:
            return False
        receipts = insert_ignore(db.dialect, ProcessedEvent,
                                 [{"consumer": consumer.name, "event_id": i} for i in ids],
                                 ["consumer", "event_id"]).returning(ProcessedEvent.event_id)
        new = set((await session.execute(receipts)).scalars())
        try:
            await consumer.handle(session, [event for event in events if event.id in new])
        except Exception:  # retried one by one, where the failure is recorded
            await session.rollback()
            return False
        await session.commit()
        return True


async def _is_waiting(session: AsyncSession, consumer: str, event: DomainEvent) -> bool:
    failure = await session.get(ConsumerFailure, (consumer, event.id))
    if failure is None or failure.dead:
        return False
    retry_at: datetime = failure.updated_at + BASE_RETRY * (2 ** min(failure.attempts, 10))
    return utcnow() < retry_at


async def _record_failure(db: Database, consumer: str, event: DomainEvent, error: str) -> Outcome:
    async with db.session() as session:
        failure = await session.get(ConsumerFailure, (consumer, event.id))
        if failure is None:
            failure = ConsumerFailure(consumer=consumer, event_id=event.id,
                                      workspace_id=event.workspace_id, attempts=0)
            session.add(failure)
        failure.attempts += 1
        failure.last_error = error[:2000]
        failure.updated_at = utcnow()
        if failure.attempts >= MAX_ATTEMPTS:
            # Park it: later events for this workspace must not wait forever behind it.
            failure.dead = True
            session.add(ProcessedEvent(consumer=consumer, event_id=event.id))
        await session.commit()
        return Outcome.DONE if failure.dead else Outcome.RETRY


async def dead_letters(session: AsyncSession) -> list[ConsumerFailure]:
    rows = await session.execute(select(ConsumerFailure).where(ConsumerFailure.dead.is_(True)))
    return list(rows.scalars())


registry = ConsumerRegistry()
