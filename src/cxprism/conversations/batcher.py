"""Group commit for inbound items: concurrent webhooks and mails share one transaction.

A provider's webhook (or a mail's DATA) hands what its connector parsed to the
:class:`InboundBatcher` and waits. One flusher takes everything queued, stores each
delivery in its own savepoint (so one unstorable delivery fails alone), commits once, and
answers every waiting request: a 200 (or 250) is still only sent after the commit that
holds the delivery. Under load, one commit and one turn on the workspace's outbox
counter serve many deliveries instead of one each.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError

from cxprism.channels.protocol import WebhookResult
from cxprism.channels.service import OpenChannel
from cxprism.conversations.inbound import InboundService
from cxprism.kit.db import Database
from cxprism.kit.http import is_transient
from cxprism.kit.storage import Storage

log = logging.getLogger("cxprism.conversations")
MAX_DELIVERIES_PER_COMMIT = 200
POSTGRES_FLUSHERS = 2  # measured (bench/channels_bench.py): 1: 2,090/s, 2: 2,180, 3: 2,049
COMMIT_ATTEMPTS = 4

# One delivery: what one request brought, per channel (a mail for two inboxes has two).
Delivery = list[tuple[OpenChannel, WebhookResult]]


@dataclass
class _Waiting:
    delivery: Delivery
    future: asyncio.Future[None] = field(repr=False)


class InboundBatcher:
    def __init__(self, db: Database, storage: Storage,
                 max_per_commit: int = MAX_DELIVERIES_PER_COMMIT,
                 flushers: int | None = None) -> None:
        self.db = db
        self.storage = storage
        self.max_per_commit = max_per_commit
        # PostgreSQL: while one batch waits on the database, another is worked on (a
        # deadlock between them is retried); more make smaller batches that each pay a
        # commit's fixed statements and queue on the workspace's outbox counter. SQLite
        # has one writer.
        self.flushers = flushers or (POSTGRES_FLUSHERS if db.dialect == "postgresql" else 1)
        self._queue: deque[_Waiting] = deque()
        self._running: set[asyncio.Task[None]] = set()

    async def store(self, delivery: Delivery) -> None:
        """Returns once the delivery is committed; raises what storing it raised."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(_Waiting(delivery, future))
        if len(self._running) < self.flushers and (not self._running or len(self._queue) > 1):
            task = asyncio.create_task(self._flush_all(), name="inbound-flusher")
            self._running.add(task)
        await asyncio.shield(future)

    async def close(self) -> None:
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)

    async def _flush_all(self) -> None:
        try:
            await self._drain()
        finally:
            # Leave the running set in the same step that saw the queue empty (no await in
            # between): a delivery queued after that always starts a flusher of its own.
            task = asyncio.current_task()
            if task is not None:
                self._running.discard(task)

    async def _drain(self) -> None:
        while self._queue:
            batch = [self._queue.popleft()
                     for _ in range(min(len(self._queue), self.max_per_commit))]
            try:
                outcomes = await self._commit_with_retries(batch)
            except Exception as exc:  # the commit itself failed: nobody's delivery is stored
                log.exception("an inbound commit failed")
                outcomes = [exc] * len(batch)
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.future.done():
                    continue
                if outcome is None:
                    waiting.future.set_result(None)
                else:
                    waiting.future.set_exception(outcome)

    async def _commit_with_retries(self, batch: list[_Waiting]) -> list[Exception | None]:
        for attempt in range(COMMIT_ATTEMPTS):
            try:
                return await self._commit(batch)
            except DBAPIError as exc:  # a deadlock victim: run the whole batch again
                if not is_transient(exc) or attempt == COMMIT_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(random.uniform(0, 0.02 * 2 ** attempt))  # noqa: S311
        raise AssertionError("unreachable")  # pragma: no cover

    async def _commit(self, batch: list[_Waiting]) -> list[Exception | None]:
        """All together first (a few queries for the whole batch, no savepoints); if any
        delivery cannot be stored, again one savepoint each so it fails alone."""
        try:
            await self._commit_together(batch)
            return [None] * len(batch)
        except DBAPIError as exc:
            if is_transient(exc):
                raise
        except Exception:  # noqa: S110 - found again, and answered, delivery by delivery
            pass
        return await self._commit_apart(batch)

    async def _commit_together(self, batch: list[_Waiting]) -> None:
        by_workspace: dict[uuid.UUID, Delivery] = defaultdict(list)
        for waiting in batch:
            for channel, result in waiting.delivery:
                by_workspace[channel.channel.workspace_id].append((channel, result))
        async with self.db.session() as session:
            for workspace_id in sorted(by_workspace):  # a fixed lock order across batches
                inbound = InboundService(session, workspace_id, self.storage)
                await inbound.prepare(by_workspace[workspace_id])
                for channel, result in by_workspace[workspace_id]:
                    await inbound.ingest(channel, result)
            await session.commit()

    async def _commit_apart(self, batch: list[_Waiting]) -> list[Exception | None]:
        outcomes: list[Exception | None] = []
        async with self.db.session() as session:
            for waiting in batch:
                try:
                    async with session.begin_nested():
                        for channel, result in waiting.delivery:
                            inbound = InboundService(session, channel.channel.workspace_id,
                                                     self.storage)
                            await inbound.ingest(channel, result)
                    outcomes.append(None)
                except DBAPIError as exc:
                    if is_transient(exc):
                        raise
                    outcomes.append(exc)
                except Exception as exc:  # this delivery only; the others go on
                    outcomes.append(exc)
            await session.commit()
        return outcomes


def batcher_of(state: object) -> InboundBatcher:
    """The app's batcher (``app.state``), made on first use."""
    found: InboundBatcher | None = getattr(state, "inbound_batcher", None)
    if found is None:
        found = InboundBatcher(getattr(state, "db"), getattr(state, "storage"))  # noqa: B009
        setattr(state, "inbound_batcher", found)  # noqa: B010
    return found
