"""Runs of sequence numbers never overlap: across calls, concurrent callers and blocks."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxprism.kit.db import Database
from cxprism.kit.sequences import BLOCK_SIZE, BlockRuns

SEQUENCE = "tracked_events_seq"  # a sequence the migrations make


async def _take(db: Database, runs: BlockRuns, count: int) -> range:
    async with db.session() as session:
        first = await runs.take(session, count)
        await session.commit()
    return range(first, first + count)


def _disjoint(taken: list[range]) -> bool:
    numbers = [n for run in taken for n in run]
    return len(numbers) == len(set(numbers))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(counts=st.lists(st.integers(1, BLOCK_SIZE), min_size=1, max_size=12))
async def test_runs_never_overlap(db: Database, counts: list[int]) -> None:
    runs = BlockRuns(SEQUENCE)
    taken = [await _take(db, runs, count) for count in counts]
    taken += [await _take(db, BlockRuns(SEQUENCE), 5)]  # as another process would
    assert _disjoint(taken)


async def test_concurrent_callers_get_disjoint_runs(db: Database) -> None:
    runs = BlockRuns(SEQUENCE)
    taken = await asyncio.gather(*(_take(db, runs, 3000) for _ in range(8)))
    assert _disjoint(list(taken))


async def test_one_block_serves_many_runs_on_postgresql_and_one_run_on_sqlite(
        db: Database) -> None:
    runs = BlockRuns(SEQUENCE)
    first, second = await _take(db, runs, 10), await _take(db, runs, 10)
    if db.dialect == "postgresql":
        assert second.start == first.stop  # cut from the same block: no round trip
    else:
        assert second.start == first.start + BLOCK_SIZE  # a block in each transaction
    runs.forget()
    third = await _take(db, runs, 10)
    assert third.start >= first.start + BLOCK_SIZE  # a fresh block after forget()


def test_event_loops_in_several_threads_get_disjoint_runs(db: Database) -> None:
    """The runs are per process, and a process may run event loops in several threads."""
    import sys
    import threading

    runs, taken = BlockRuns(SEQUENCE), []

    def thread() -> None:
        async def take_many() -> list[range]:
            own = Database(db.url)
            try:
                return [await _take(own, runs, 7) for _ in range(60)]
            finally:
                await own.dispose()
        taken.extend(asyncio.run(take_many()))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible
    try:
        threads = [threading.Thread(target=thread) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert len(taken) == 240
    assert _disjoint(taken)


async def test_runs_taken_over_a_driver_connection_share_the_blocks(db: Database) -> None:
    """tracking.express takes runs outside any session; they come from the same blocks."""
    if db.dialect != "postgresql":
        return  # the driver connection is asyncpg's; SQLite's runs need their transaction
    runs = BlockRuns(SEQUENCE)
    async with db.autocommit() as connection:
        first = await runs.take_on(connection, 10)
        second = await runs.take_on(connection, 10)
    third = await _take(db, runs, 10)
    assert second == first + 10  # one block: no round trip
    assert third.start == second + 10
    assert _disjoint([range(first, first + 10), range(second, second + 10), third,
                      await _take(db, BlockRuns(SEQUENCE), 5)])
