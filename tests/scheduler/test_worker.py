"""The worker against a real database: claim order, retries, dead letters, rescue, savepoints."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from sqlalchemy import Insert, func, insert, select

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler import repository as repo
from cxprism.scheduler.models import Job
from cxprism.scheduler.registry import JobContext, JobRegistry
from cxprism.scheduler.worker import Worker
from tests.scheduler.helpers import (
    apply_effect,
    create_effects_table,
    effects,
    enqueue_committed,
    load,
    update_job,
)

# Bounds on waits only stop a hung test; they are deliberately generous (a loaded CI
# machine can be slow) and are never a measurement.
SAFETY_SECONDS = 30.0


@pytest.fixture
async def registry(db: Database) -> JobRegistry:
    await create_effects_table(db)
    registry = JobRegistry()
    registry.register("effect")(apply_effect)

    @registry.register("fail")
    async def fail(ctx: JobContext) -> None:
        await apply_effect(ctx)  # written, then rolled back with the savepoint
        raise RuntimeError(f"boom on attempt {ctx.attempt}")

    return registry


def make_worker(db: Database, registry: JobRegistry, **options: object) -> Worker:
    settings: dict[str, object] = {"owner": "w1", "batch_size": 10, "lease_seconds": 30.0}
    settings.update(options)
    return Worker(db, registry, **settings)  # type: ignore[arg-type]


async def test_claim_takes_due_jobs_by_priority_then_run_at(db: Database) -> None:
    now = utcnow()
    late = await enqueue_committed(db, "x", run_at=now - timedelta(seconds=1))
    early = await enqueue_committed(db, "x", run_at=now - timedelta(seconds=3))
    urgent = await enqueue_committed(db, "x", priority=10, run_at=now - timedelta(seconds=1))
    future = await enqueue_committed(db, "x", priority=0, run_at=now + timedelta(hours=1))
    async with db.session() as session:
        first = await repo.claim(session, "w", utcnow(), now + timedelta(minutes=1), 2)
        rest = await repo.claim(session, "w", utcnow(), now + timedelta(minutes=1), 10)
        await session.commit()
    assert [job.id for job in first] == [urgent, early]
    assert [job.id for job in rest] == [late]
    assert (await load(db, future)).status == "queued"
    claimed = await load(db, urgent)
    assert (claimed.status, claimed.attempts, claimed.lease_owner) == ("running", 1, "w")


async def test_success_commits_effect_and_completion(db: Database, registry: JobRegistry) -> None:
    job_id = await enqueue_committed(db, "effect", unique_key="k1")
    assert await make_worker(db, registry).run_once() == 1
    job = await load(db, job_id)
    assert (job.status, job.lease_owner, job.finished_at is not None) == ("succeeded", None, True)
    assert await effects(db) == {"k1": 1}


async def test_failing_handler_rolls_back_only_its_savepoint(
        db: Database, registry: JobRegistry) -> None:
    ok_before = await enqueue_committed(db, "effect", unique_key="a")
    bad = await enqueue_committed(db, "fail", unique_key="bad")
    ok_after = await enqueue_committed(db, "effect", unique_key="b")
    assert await make_worker(db, registry).run_once() == 3
    assert await effects(db) == {"a": 1, "b": 1}
    assert (await load(db, ok_before)).status == "succeeded"
    assert (await load(db, ok_after)).status == "succeeded"
    failed = await load(db, bad)
    assert failed.status == "queued"
    assert failed.attempts == 1
    assert failed.last_error == "RuntimeError: boom on attempt 1"
    # First retry waits between 1 and 2 s (base 2 s, equal jitter).
    wait = (failed.run_at - failed.updated_at).total_seconds()
    assert 0.9 <= wait <= 2.1


async def test_dead_after_max_attempts(db: Database, registry: JobRegistry) -> None:
    job_id = await enqueue_committed(db, "fail", max_attempts=2)
    worker = make_worker(db, registry)
    await worker.run_once()
    assert (await load(db, job_id)).status == "queued"
    await worker.run_once()  # not due yet: the backoff holds it back
    assert (await load(db, job_id)).attempts == 1
    await update_job(db, job_id, run_at=utcnow())
    await worker.run_once()
    job = await load(db, job_id)
    assert (job.status, job.attempts, job.last_error) == (
        "dead", 2, "RuntimeError: boom on attempt 2")
    assert job.finished_at is not None
    assert await worker.run_once() == 0


async def test_unknown_kind_goes_dead_with_a_clear_error(
        db: Database, registry: JobRegistry) -> None:
    job_id = await enqueue_committed(db, "no.such.kind")
    await make_worker(db, registry).run_once()
    job = await load(db, job_id)
    assert job.status == "dead"
    assert "no handler is registered for job kind 'no.such.kind'" in (job.last_error or "")


async def test_rescue_requeues_expired_lease_then_job_runs(
        db: Database, registry: JobRegistry) -> None:
    job_id = await enqueue_committed(db, "effect", unique_key="r")
    exhausted = await enqueue_committed(db, "effect", unique_key="x", max_attempts=1)
    async with db.session() as session:  # a worker that claims and then dies
        await repo.claim(session, "ghost", utcnow(), utcnow() - timedelta(seconds=1), 10)
        await session.commit()
    worker = make_worker(db, registry)
    counts = await worker.maintain()
    assert (counts["requeued"], counts["dead"]) == (1, 1)
    rescued = await load(db, job_id)
    assert rescued.status == "queued"
    assert rescued.last_error == "the lease of worker ghost expired before the job finished"
    assert (await load(db, exhausted)).status == "dead"
    await worker.run_once()
    assert (await load(db, job_id)).status == "succeeded"
    assert await effects(db) == {"r": 1}


async def test_live_lease_is_not_rescued(db: Database, registry: JobRegistry) -> None:
    job_id = await enqueue_committed(db, "effect")
    async with db.session() as session:
        await repo.claim(session, "alive", utcnow(), utcnow() + timedelta(minutes=1), 10)
        await session.commit()
    await make_worker(db, registry).maintain()
    assert (await load(db, job_id)).lease_owner == "alive"


async def test_stopping_mid_batch_gives_unstarted_jobs_back(db: Database) -> None:
    await create_effects_table(db)
    stop = asyncio.Event()
    registry = JobRegistry()

    @registry.register("stopper")
    async def stopper(ctx: JobContext) -> None:
        await apply_effect(ctx)
        stop.set()

    ids = [await enqueue_committed(db, "stopper") for _ in range(3)]
    assert await make_worker(db, registry).run_once(stop) == 3
    statuses = [((job := await load(db, i)).status, job.attempts) for i in ids]
    assert statuses == [("succeeded", 1), ("queued", 0), ("queued", 0)]


async def test_sweep_deletes_old_succeeded_jobs_only(db: Database, registry: JobRegistry) -> None:
    old = await enqueue_committed(db, "x")
    recent = await enqueue_committed(db, "x")
    old_dead = await enqueue_committed(db, "x")
    long_ago = utcnow() - timedelta(days=8)
    await update_job(db, old, status="succeeded", finished_at=long_ago)
    await update_job(db, recent, status="succeeded", finished_at=utcnow())
    await update_job(db, old_dead, status="dead", finished_at=long_ago)
    counts = await make_worker(db, registry).maintain()
    assert counts["deleted"] == 1
    async with db.session() as session:
        left = set((await session.execute(select(Job.id))).scalars())
    assert left == {recent, old_dead}


async def test_run_loop_works_and_stops_promptly(db: Database, registry: JobRegistry) -> None:
    # The idle poll is far longer than the safety bound: the job runs within the bound only
    # because wakeup interrupts the idle sleep, and the loop ends within it only because
    # stop does. So "promptly" is checked without timing anything tightly.
    worker = make_worker(db, registry, poll_seconds=SAFETY_SECONDS * 10)
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    await asyncio.sleep(0.1)
    job_id = await enqueue_committed(db, "effect")
    deadline = time.monotonic() + SAFETY_SECONDS
    while time.monotonic() < deadline:
        # Without wakeup the idle worker would sleep its long poll. Set again each time:
        # a worker still busy with its first claim clears it on entering its idle sleep.
        worker.wakeup.set()
        if (await load(db, job_id)).status == "succeeded":
            break
        await asyncio.sleep(0.02)
    assert (await load(db, job_id)).status == "succeeded"
    stop.set()
    await asyncio.wait_for(task, timeout=SAFETY_SECONDS)


async def test_two_concurrent_workers_never_run_the_same_job(db: Database) -> None:
    await create_effects_table(db)
    runs: list[int] = []
    registry = JobRegistry()

    @registry.register("slow")
    async def slow(ctx: JobContext) -> None:
        runs.append(ctx.job_id)
        await apply_effect(ctx)
        await asyncio.sleep(0.001)

    async with db.session() as session:
        for n in range(300):
            await session.execute(repo_insert(n))
        await session.commit()
    stop = asyncio.Event()
    workers = [Worker(db, registry, owner=f"w{n}", batch_size=20, poll_seconds=0.01)
               for n in range(2)]
    tasks = [asyncio.create_task(w.run(stop)) for w in workers]
    deadline = time.monotonic() + SAFETY_SECONDS  # only stops a hang; not a speed check
    while time.monotonic() < deadline:
        async with db.session() as session:
            left = (await session.execute(select(func.count()).where(
                Job.status != "succeeded"))).scalar_one()
        if left == 0:
            break
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.gather(*tasks)
    assert left == 0
    assert len(runs) == len(set(runs)) == 300
    assert set((await effects(db)).values()) == {1}


def repo_insert(n: int) -> Insert:
    now = utcnow()
    return insert(Job).values(kind="slow", payload={}, unique_key=f"c{n}", run_at=now,
                              priority=100, attempts=0, max_attempts=10, status="queued",
                              created_at=now, updated_at=now)
