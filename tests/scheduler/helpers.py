"""Shared by the scheduler tests: an effects table whose counters show double application."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text, update

from cxprism.kit.db import Database
from cxprism.scheduler import service
from cxprism.scheduler.models import Job
from cxprism.scheduler.registry import JobContext

EFFECTS_DDL = ("CREATE TABLE IF NOT EXISTS scheduler_test_effects "
               "(effect_key VARCHAR(255) PRIMARY KEY, applied INTEGER NOT NULL)")
APPLY_EFFECT = text(
    "INSERT INTO scheduler_test_effects (effect_key, applied) VALUES (:key, 1) "
    "ON CONFLICT (effect_key) DO UPDATE SET applied = scheduler_test_effects.applied + 1")


async def create_effects_table(db: Database) -> None:
    async with db.engine.begin() as conn:
        await conn.execute(text(EFFECTS_DDL))
        await conn.execute(text("DELETE FROM scheduler_test_effects"))


async def apply_effect(ctx: JobContext) -> None:
    """Counts one application of the job's effect, keyed by its unique key (or id)."""
    await ctx.session.execute(APPLY_EFFECT, {"key": ctx.unique_key or f"job-{ctx.job_id}"})


async def effects(db: Database) -> dict[str, int]:
    async with db.session() as session:
        rows = await session.execute(text("SELECT effect_key, applied FROM scheduler_test_effects"))
        return {key: applied for key, applied in rows.all()}


async def enqueue_committed(db: Database, kind: str, payload: dict[str, Any] | None = None,
                            **options: Any) -> int:
    async with db.session() as session:
        job_id = await service.enqueue(session, kind, payload or {}, **options)
        await session.commit()
    assert job_id is not None
    return job_id


async def load(db: Database, job_id: int) -> Job:
    async with db.session() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def update_job(db: Database, job_id: int, **values: Any) -> None:
    """Put a job into a state directly, as a test precondition."""
    async with db.session() as session:
        await session.execute(update(Job).where(Job.id == job_id).values(**values))
        await session.commit()
