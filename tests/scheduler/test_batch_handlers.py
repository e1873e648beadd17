"""Batch handlers: every claimed job of a kind at once, settled in the handler's own
transaction; whatever it does not settle is failed like any failing job."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler.batches import DONE, Bury, JobBatch, Outcome, Retry
from cxprism.scheduler.registry import JobContext, JobRegistry
from cxprism.scheduler.worker import Worker
from tests.scheduler.helpers import (
    APPLY_EFFECT,
    create_effects_table,
    effects,
    enqueue_committed,
    load,
    update_job,
)


async def test_one_call_gets_every_job_of_its_kind_and_outcomes_are_written(
        db: Database) -> None:
    registry = JobRegistry()
    seen: list[list[str]] = []
    later = utcnow() + timedelta(hours=1)

    @registry.register_batch("deliver")
    async def deliver(batch: JobBatch) -> None:
        seen.append(sorted(job.payload["to"] for job in batch.jobs))
        outcome: dict[str, Outcome] = {"a": DONE, "b": Retry("503", at=later),
                                       "c": Bury("410 gone")}
        async with batch.db.session() as session:
            await batch.settle(session, {job.id: outcome[job.payload["to"]]
                                         for job in batch.jobs})
            await session.commit()

    ids = {to: await enqueue_committed(db, "deliver", {"to": to}) for to in "abc"}
    assert await Worker(db, registry, owner="w", batch_size=10).run_once() == 3
    assert seen == [["a", "b", "c"]]
    done, retried, buried = [await load(db, ids[to]) for to in "abc"]
    assert done.status == "succeeded"
    assert retried.status == "queued" and retried.last_error == "503"
    assert abs((retried.run_at - later).total_seconds()) < 1
    assert buried.status == "dead" and buried.last_error == "410 gone"


async def test_settled_outcomes_commit_with_the_handlers_own_writes(db: Database) -> None:
    await create_effects_table(db)
    registry = JobRegistry()

    @registry.register_batch("deliver")
    async def deliver(batch: JobBatch) -> None:
        async with batch.db.session() as session:
            for job in await batch.hold(session):
                await session.execute(APPLY_EFFECT, {"key": f"job-{job.id}"})
            await batch.settle(session, {job.id: DONE for job in batch.jobs})
            await session.rollback()  # as if the worker died before the commit

    job_id = await enqueue_committed(db, "deliver")
    await Worker(db, registry, owner="w", batch_size=10).run_once()
    assert await effects(db) == {}
    job = await load(db, job_id)
    # Not settled after all: failed like any failing job, to be retried with backoff.
    assert job.status == "queued" and "did not settle" in (job.last_error or "")


async def test_a_raising_handler_fails_its_unsettled_jobs_and_buries_them_at_the_end(
        db: Database) -> None:
    registry = JobRegistry()

    @registry.register_batch("deliver")
    async def deliver(batch: JobBatch) -> None:
        first = batch.jobs[0]
        async with batch.db.session() as session:
            await batch.settle(session, {first.id: DONE})
            await session.commit()
        raise RuntimeError("the connection pool broke")

    first = await enqueue_committed(db, "deliver", max_attempts=3)
    second = await enqueue_committed(db, "deliver", max_attempts=1)
    await Worker(db, registry, owner="w", batch_size=10).run_once()
    assert (await load(db, first)).status == "succeeded"
    last = await load(db, second)
    assert last.status == "dead" and "connection pool broke" in (last.last_error or "")


async def test_a_retry_after_the_last_attempt_buries_the_job(db: Database) -> None:
    registry = JobRegistry()

    @registry.register_batch("deliver")
    async def deliver(batch: JobBatch) -> None:
        async with batch.db.session() as session:
            await batch.settle(session, {job.id: Retry("503 again") for job in batch.jobs})
            await session.commit()

    job_id = await enqueue_committed(db, "deliver", max_attempts=1)
    await Worker(db, registry, owner="w", batch_size=10).run_once()
    job = await load(db, job_id)
    assert job.status == "dead" and job.last_error == "503 again"


async def test_jobs_a_rescuer_took_are_neither_held_nor_settled(db: Database) -> None:
    registry = JobRegistry()
    held: list[int] = []

    @registry.register_batch("deliver")
    async def deliver(batch: JobBatch) -> None:
        # Meanwhile our lease ran out and another worker took the job over.
        await update_job(db, batch.jobs[0].id, lease_owner="someone-else")
        async with batch.db.session() as session:
            held.extend(job.id for job in await batch.hold(session))
            await batch.settle(session, {job.id: DONE for job in batch.jobs})
            await session.commit()

    job_id = await enqueue_committed(db, "deliver")
    await Worker(db, registry, owner="w", batch_size=10).run_once()
    assert held == []
    job = await load(db, job_id)
    assert job.status == "running" and job.lease_owner == "someone-else"


def test_a_kind_cannot_be_both_a_batch_and_a_single_handler() -> None:
    registry = JobRegistry()

    @registry.register_batch("deliver")
    async def deliver(batch: JobBatch) -> None:
        return None

    async def single(ctx: JobContext) -> None:
        return None

    with pytest.raises(ValueError, match="registered twice"):
        registry.register("deliver")(single)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register_batch("deliver")(deliver)
