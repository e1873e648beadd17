"""Enqueueing in the caller's transaction, idempotency, backoff and the operator rules."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from cxprism.kit.db import Database
from cxprism.kit.errors import Conflict
from cxprism.scheduler import service
from cxprism.scheduler.backoff import retry_delay
from cxprism.scheduler.models import Job
from tests.scheduler.helpers import enqueue_committed, load, update_job


async def count_jobs(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Job))).scalar_one())


async def test_unique_key_makes_enqueue_idempotent(db: Database) -> None:
    first = await enqueue_committed(db, "x", {"n": 1}, unique_key="once")
    async with db.session() as session:
        again = await service.enqueue(session, "x", {"n": 2}, unique_key="once")
        await session.commit()
    assert again == first
    assert await count_jobs(db) == 1
    assert (await load(db, first)).payload == {"n": 1}


async def test_enqueue_rolled_back_with_its_transaction_leaves_no_job(db: Database) -> None:
    async with db.session() as session:
        job_id = await service.enqueue(session, "x", {})
        assert job_id is not None
        await session.rollback()
    assert await count_jobs(db) == 0


async def test_enqueue_rejects_bad_arguments(db: Database) -> None:
    async with db.session() as session:
        for kwargs in ({"kind": ""}, {"kind": "x", "max_attempts": 0},
                       {"kind": "x", "unique_key": "k" * 256}):
            with pytest.raises(ValueError, match="must"):
                await service.enqueue(session, payload={}, **kwargs)  # type: ignore[arg-type]


def test_backoff_grows_is_capped_and_jittered() -> None:
    for attempt in range(1, 12):
        step = min(3600.0, 2.0 * 2 ** (attempt - 1))
        assert retry_delay(attempt, rand=lambda: 0.0) == step / 2
        assert retry_delay(attempt, rand=lambda: 1.0) == step
    assert retry_delay(100, rand=lambda: 1.0) == 3600.0
    assert len({retry_delay(5) for _ in range(50)}) > 40  # jitter spreads retries
    assert retry_delay(6, rand=lambda: 0.0) > retry_delay(5, rand=lambda: 1.0) * 0.99


async def test_operator_rules(db: Database) -> None:
    job_id = await enqueue_committed(db, "x")
    for status in ("running", "succeeded"):
        await update_job(db, job_id, status=status)
        async with db.session() as session:
            with pytest.raises(Conflict):
                await service.cancel_job(session, job_id, None)
            with pytest.raises(Conflict):
                await service.retry_job(session, job_id, None)
    await update_job(db, job_id, status="queued", attempts=3, last_error="flaky")
    async with db.session() as session:  # failed, waiting for its backoff: retry runs it now
        job = await service.retry_job(session, job_id, None)
        await session.commit()
    assert (job.status, job.attempts) == ("queued", 0)


async def test_unique_keys_are_scoped_per_workspace(db: Database) -> None:
    first, second = uuid.uuid4(), uuid.uuid4()
    async with db.session() as session:
        a = await service.enqueue(session, "x", {}, unique_key="welcome", workspace_id=first)
        b = await service.enqueue(session, "x", {}, unique_key="welcome", workspace_id=second)
        again = await service.enqueue(session, "x", {}, unique_key="welcome", workspace_id=first)
        await session.commit()
    assert a is not None and b is not None and a != b
    assert again == a
