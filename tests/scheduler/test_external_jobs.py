"""Jobs that act outside the database run once per attempt, never re-run with a batch."""

from __future__ import annotations

from cxprism.kit.db import Database
from cxprism.scheduler.registry import JobContext, JobRegistry
from cxprism.scheduler.worker import Worker
from tests.scheduler.helpers import enqueue_committed, load


async def test_an_external_job_runs_once_even_when_a_batched_neighbour_fails(
        db: Database) -> None:
    calls: list[int] = []
    registry = JobRegistry()

    @registry.register("send", external=True)
    async def send(ctx: JobContext) -> None:
        calls.append(ctx.job_id)  # a message leaving: no rollback can take it back

    @registry.register("flaky")
    async def flaky(ctx: JobContext) -> None:
        raise RuntimeError("the neighbour fails")

    sent = await enqueue_committed(db, "send")
    await enqueue_committed(db, "flaky")
    await Worker(db, registry, owner="w", batch_size=10).run_once()
    assert calls == [sent]
    assert (await load(db, sent)).status == "succeeded"


async def test_a_failing_external_job_is_not_retried_in_the_same_pass(db: Database) -> None:
    attempts: list[int] = []
    registry = JobRegistry()

    @registry.register("send", external=True)
    async def send(ctx: JobContext) -> None:
        attempts.append(ctx.attempt)
        raise RuntimeError("provider answered 503")

    job = await enqueue_committed(db, "send")
    await Worker(db, registry, owner="w", batch_size=10).run_once()
    assert attempts == [1]
    assert (await load(db, job)).status == "queued"  # for later, with backoff
