"""The transactional outbox: events exist exactly when their transaction commits."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.bus.backends import InProcessBackend
from cxprism.bus.consumers import MAX_ATTEMPTS, ConsumerRegistry, dead_letters
from cxprism.bus.events import DomainEvent
from cxprism.bus.models import ConsumerFailure, OutboxEvent, OutboxSequence, RelayCursor
from cxprism.bus.relay import Relay
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from tests.bus.helpers import Recorder, registry_with

WS_A = uuid.UUID("00000000-0000-7000-8000-00000000000a")
WS_B = uuid.UUID("00000000-0000-7000-8000-00000000000b")
# Bounds on waits only stop a hung test; they are deliberately generous (a loaded CI
# machine can be slow) and are never a measurement.
SAFETY_SECONDS = 30.0


def relay_for(db: Database, recorder: Recorder) -> Relay:
    return Relay(db, InProcessBackend(db, registry_with(recorder)), batch_size=7)


async def commit_events(db: Database, workspace_id: uuid.UUID, count: int, tag: str) -> None:
    async with db.session() as session:
        for n in range(count):
            events.record(session, workspace_id, "test.happened", {"tag": tag, "n": n})
        await session.commit()


async def test_rolled_back_transaction_publishes_nothing(db: Database) -> None:
    async with db.session() as session:
        events.record(session, WS_A, "test.happened", {"n": 1})
        await session.flush()
        await session.rollback()
        # The same session committing later must not resurrect the discarded event.
        await session.commit()
    recorder = Recorder()
    assert await relay_for(db, recorder).run_once() == 0
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert recorder.seen == []


async def test_events_delivered_in_commit_order_per_workspace(db: Database) -> None:
    await commit_events(db, WS_A, 3, "first")
    await commit_events(db, WS_B, 2, "other")
    await commit_events(db, WS_A, 20, "second")
    recorder = Recorder()
    assert await relay_for(db, recorder).run_once() == 25
    seen_a = recorder.of(WS_A)
    assert [e.seq for e in seen_a] == list(range(1, 24))
    assert [e.payload["tag"] for e in seen_a] == ["first"] * 3 + ["second"] * 20
    assert [e.payload["n"] for e in recorder.of(WS_B)] == [0, 1]


CRASHING_WRITER = """
import asyncio, os, signal, sys, uuid
from cxprism.bus import events
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database

async def main() -> None:
    db = Database(sys.argv[1])
    async with db.session() as session:
        for n in range(5):
            events.record(session, uuid.UUID(sys.argv[2]), "test.happened", {"n": n})
        await session.commit()
    os.kill(os.getpid(), signal.SIGKILL)  # die after the commit, before any relay ran

asyncio.run(main())
"""


async def test_crash_between_commit_and_relay_loses_no_event(
        db: Database, database_url: str, tmp_path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(CRASHING_WRITER)
    child = await asyncio.create_subprocess_exec(
        sys.executable, str(script), database_url, str(WS_A), env={**os.environ})
    assert await asyncio.wait_for(child.wait(), 60) == -9
    recorder = Recorder()
    assert await relay_for(db, recorder).run_once() == 5
    assert [e.payload["n"] for e in recorder.seen] == [0, 1, 2, 3, 4]


async def test_redelivery_after_relay_crash_reaches_consumers_once(db: Database) -> None:
    await commit_events(db, WS_A, 10, "x")
    recorder = Recorder()
    await relay_for(db, recorder).run_once()
    # Simulate a relay that handed events over and died before saving its cursor.
    async with db.session() as session:
        await session.execute(update(RelayCursor).values(relayed_seq=0))
        await session.commit()
    assert await relay_for(db, recorder).run_once() == 10
    assert [e.payload["n"] for e in recorder.seen] == list(range(10))


async def test_failing_consumer_blocks_later_events_until_it_succeeds(db: Database) -> None:
    await commit_events(db, WS_A, 3, "x")
    async with db.session() as session:
        ids = list((await session.execute(
            select(OutboxEvent.id).order_by(OutboxEvent.seq))).scalars())
    # Twice: once in the batch's shared transaction, once on the careful path after it.
    recorder = Recorder(fail_times={ids[1]: 2})
    relay = relay_for(db, recorder)
    assert await relay.run_once() == 1
    assert [e.payload["n"] for e in recorder.seen] == [0]
    # The retry waits for its backoff; make it due now.
    async with db.session() as session:
        await session.execute(update(ConsumerFailure).values(
            updated_at=utcnow() - timedelta(hours=1)))
        await session.commit()
    assert await relay.run_once() == 2
    assert [e.payload["n"] for e in recorder.seen] == [0, 1, 2]


async def test_event_recorded_in_rolled_back_savepoint_is_dropped_alone(db: Database) -> None:
    async with db.session() as session:
        events.record(session, WS_A, "test.happened", {"n": "kept"})
        async with session.begin_nested() as savepoint:
            events.record(session, WS_A, "test.happened", {"n": "dropped"})
            await savepoint.rollback()
        await session.commit()
    recorder = Recorder()
    await relay_for(db, recorder).run_once()
    assert [e.payload["n"] for e in recorder.seen] == ["kept"]


async def test_consumer_dead_letters_after_max_attempts(db: Database) -> None:
    await commit_events(db, WS_A, 2, "x")
    async with db.session() as session:
        first = await session.scalar(select(OutboxEvent.id).where(OutboxEvent.seq == 1))
    assert first is not None
    recorder = Recorder(fail_times={first: 100})
    relay = relay_for(db, recorder)
    for _ in range(MAX_ATTEMPTS):
        await relay.run_once()
        async with db.session() as session:
            await session.execute(update(ConsumerFailure).values(
                updated_at=utcnow() - timedelta(days=1)))
            await session.commit()
    assert [e.payload["n"] for e in recorder.seen] == [1]
    async with db.session() as session:
        parked = await dead_letters(session)
    assert [(p.event_id, p.attempts) for p in parked] == [(first, MAX_ATTEMPTS)]


async def test_concurrent_writers_and_relays_deliver_everything_once_in_order(
        db: Database) -> None:
    recorder = Recorder()
    relays = [relay_for(db, recorder) for _ in range(2)]
    stop = asyncio.Event()
    runners = [asyncio.create_task(r.run(stop, poll_seconds=0.01)) for r in relays]
    writers = [commit_events(db, WS_A if n % 2 else WS_B, 3, f"w{n}") for n in range(16)]
    await asyncio.gather(*writers)
    deadline = time.monotonic() + SAFETY_SECONDS
    while time.monotonic() < deadline:
        if len(recorder.seen) >= 48:
            break
        await asyncio.sleep(0.02)
    stop.set()
    await asyncio.gather(*runners)
    for workspace_id in (WS_A, WS_B):
        seqs = [e.seq for e in recorder.of(workspace_id)]
        assert seqs == list(range(1, 25))
        # One transaction's events are contiguous: numbering follows commits.
        tags = [e.payload["tag"] for e in recorder.of(workspace_id)]
        for tag in set(tags):
            first = tags.index(tag)
            assert tags[first:first + 3] == [tag] * 3


async def test_releasing_a_savepoint_writes_no_event_before_the_commit(db: Database) -> None:
    async with db.session() as session:
        async with session.begin_nested():
            events.record(session, WS_A, "test.happened", {"n": 1})
        # Written this early, the event would be visible here and the workspace's counter
        # row locked (on PostgreSQL) for the rest of the transaction.
        assert await session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxSequence)) == 0
        await session.commit()
    recorder = Recorder()
    assert await relay_for(db, recorder).run_once() == 1


async def test_a_consumer_gets_a_relayed_batch_in_one_transaction(db: Database) -> None:
    await commit_events(db, WS_A, 50, "x")
    recorder = Recorder()
    commits: list[int] = []

    async def counting(session: AsyncSession, event: DomainEvent) -> None:
        if not session.info.get("counted"):
            session.info["counted"] = True
            commits.append(1)
        await recorder.handle(session, event)

    registry = ConsumerRegistry()
    registry.register("counting", "*")(counting)
    relay = Relay(db, InProcessBackend(db, registry))
    assert await relay.run_once() == 50
    assert [e.payload["n"] for e in recorder.seen] == list(range(50))
    assert commits == [1]  # one session (one transaction) for the whole batch
