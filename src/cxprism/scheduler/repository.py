"""Every query the scheduler runs.

A worker handles a batch in two short transactions: ``claim`` marks due jobs running
under its lease and commits; then one execution transaction ``hold``s the rows it still
owns (row locks on PostgreSQL, the single write lock on SQLite), runs the handlers and
completes the jobs. While that transaction lives no rescuer can take the rows; when the
worker dies its connection and locks go, and once the lease expires ``rescue_expired``
queues the jobs again.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    ColumnElement,
    Select,
    any_,
    bindparam,
    case,
    delete,
    insert,
    literal,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import for_update, insert_ignore, skip_locked
from cxprism.scheduler.models import Job, JobStatus

QUEUED = JobStatus.QUEUED.value
RUNNING = JobStatus.RUNNING.value
SUCCEEDED = JobStatus.SUCCEEDED.value
DEAD = JobStatus.DEAD.value
CANCELLED = JobStatus.CANCELLED.value
_NO_SYNC = {"synchronize_session": False}


@dataclass(frozen=True)
class ClaimedJob:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    unique_key: str | None
    workspace_id: uuid.UUID | None
    priority: int
    run_at: datetime


def dialect_of(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


# --- enqueue ---------------------------------------------------------------------------

async def insert_job(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert a job; with a unique key already taken, insert nothing and return None."""
    if values.get("unique_key") is None:
        stmt: Any = insert(Job).values(values)
    else:
        stmt = insert_ignore(dialect_of(session), Job, values, ["unique_key"])
    new_id: int | None = (await session.execute(stmt.returning(Job.id))).scalar_one_or_none()
    return new_id


async def insert_jobs_ignoring_taken_keys(session: AsyncSession,
                                          rows: list[dict[str, Any]]) -> None:
    await session.execute(insert_ignore(dialect_of(session), Job, rows, ["unique_key"]))


async def id_by_unique_key(session: AsyncSession, unique_key: str) -> int | None:
    found: int | None = (await session.execute(
        select(Job.id).where(Job.unique_key == unique_key))).scalar_one_or_none()
    return found


# --- the worker's transactions ---------------------------------------------------------

async def claim(session: AsyncSession, owner: str, now: datetime, lease_until: datetime,
                limit: int) -> list[ClaimedJob]:
    """Take up to ``limit`` due jobs, highest priority and oldest first; attempts += 1."""
    due = skip_locked(dialect_of(session), select(Job.id)
                      .where(Job.status == QUEUED, Job.run_at <= now)
                      .order_by(Job.priority, Job.run_at).limit(limit))
    stmt = (update(Job).where(Job.id.in_(due))
            .values(status=RUNNING, lease_owner=owner, lease_expires_at=lease_until,
                    attempts=Job.attempts + 1, updated_at=now)
            .returning(Job.id, Job.kind, Job.payload, Job.attempts, Job.max_attempts,
                       Job.unique_key, Job.workspace_id, Job.priority, Job.run_at)
            .execution_options(**_NO_SYNC))
    rows = (await session.execute(stmt)).all()
    jobs = [ClaimedJob(*row) for row in rows]
    # RETURNING comes back in no particular order; run them in the order they were chosen.
    return sorted(jobs, key=lambda job: (job.priority, job.run_at, job.id))


def _id_in(session: AsyncSession, ids: Sequence[int]) -> ColumnElement[bool]:
    """``id = ANY(:array)`` on PostgreSQL: one parameter and one cached plan for any size."""
    if dialect_of(session) == "postgresql":
        return Job.id == any_(bindparam("ids", list(ids), type_=ARRAY(BigInteger)))
    return Job.id.in_(ids)


def _owned(session: AsyncSession, ids: Sequence[int], owner: str) -> ColumnElement[bool]:
    return _id_in(session, ids) & (Job.lease_owner == owner) & (Job.status == RUNNING)


async def hold(session: AsyncSession, ids: Sequence[int], owner: str) -> set[int]:
    """Lock the claimed jobs that are still ours until this transaction ends; their ids.

    A job is missing from the result when a rescuer took it after our lease expired.
    Locked rows are skipped by rescue, so the lease needs no renewal while they run.
    """
    stmt = for_update(dialect_of(session), select(Job.id).where(_owned(session, ids, owner)))
    return set((await session.execute(stmt)).scalars())


async def mark_succeeded(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    await session.execute(
        update(Job).where(_id_in(session, ids))
        .values(status=SUCCEEDED, finished_at=now, lease_owner=None, lease_expires_at=None,
                updated_at=now)
        .execution_options(**_NO_SYNC))


async def reschedule(session: AsyncSession, job_id: int, run_at: datetime, error: str,
                     now: datetime) -> None:
    await session.execute(
        update(Job).where(Job.id == job_id)
        .values(status=QUEUED, run_at=run_at, last_error=error, lease_owner=None,
                lease_expires_at=None, updated_at=now)
        .execution_options(**_NO_SYNC))


async def bury(session: AsyncSession, job_id: int, error: str, now: datetime) -> None:
    """Move a job to the dead-letter state, kept for inspection and manual retry."""
    await session.execute(
        update(Job).where(Job.id == job_id)
        .values(status=DEAD, last_error=error, finished_at=now, lease_owner=None,
                lease_expires_at=None, updated_at=now)
        .execution_options(**_NO_SYNC))


async def release(session: AsyncSession, ids: Sequence[int], now: datetime) -> None:
    """Give back claimed jobs that were never started (the worker is stopping)."""
    await session.execute(
        update(Job).where(Job.id.in_(ids))
        .values(status=QUEUED, attempts=Job.attempts - 1, lease_owner=None,
                lease_expires_at=None, updated_at=now)
        .execution_options(**_NO_SYNC))


# --- maintenance -----------------------------------------------------------------------

async def rescue_expired(session: AsyncSession, now: datetime, limit: int) -> dict[str, int]:
    """Queue again (or bury, when out of attempts) running jobs whose lease ran out.

    Rows a live worker is executing are locked by its transaction and skipped.
    """
    expired = skip_locked(dialect_of(session), select(Job.id)
                          .where(Job.status == RUNNING, Job.lease_expires_at < now)
                          .limit(limit))
    exhausted = Job.attempts >= Job.max_attempts
    message = (literal("the lease of worker ") + Job.lease_owner
               + literal(" expired before the job finished"))
    stmt = (update(Job).where(Job.id.in_(expired))
            .values(status=case((exhausted, DEAD), else_=QUEUED),
                    finished_at=case((exhausted, now), else_=None),
                    last_error=message, lease_owner=None, lease_expires_at=None,
                    updated_at=now)
            .returning(Job.status).execution_options(**_NO_SYNC))
    statuses = list((await session.execute(stmt)).scalars())
    return {"requeued": statuses.count(QUEUED), "dead": statuses.count(DEAD)}


async def delete_succeeded_before(session: AsyncSession, cutoff: datetime, limit: int) -> int:
    old = (select(Job.id).where(Job.status == SUCCEEDED, Job.finished_at < cutoff)
           .limit(limit))
    result: Any = await session.execute(
        delete(Job).where(Job.id.in_(old)).execution_options(**_NO_SYNC))
    return int(result.rowcount)


# --- inspection and operator actions -----------------------------------------------------

def _scoped(stmt: Select[Any], workspace_id: uuid.UUID | None) -> Select[Any]:
    """None means every workspace (operators); API callers always pass theirs."""
    return stmt if workspace_id is None else stmt.where(Job.workspace_id == workspace_id)


async def get(session: AsyncSession, job_id: int, workspace_id: uuid.UUID | None) -> Job | None:
    found: Job | None = (await session.execute(
        _scoped(select(Job).where(Job.id == job_id), workspace_id))).scalar_one_or_none()
    return found


async def page(session: AsyncSession, workspace_id: uuid.UUID | None, *, status: str | None,
               kind: str | None, before_id: int | None, limit: int) -> list[Job]:
    """Newest first; ``before_id`` continues after the previous page's last job."""
    stmt = _scoped(select(Job), workspace_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if before_id is not None:
        stmt = stmt.where(Job.id < before_id)
    return list((await session.execute(stmt.order_by(Job.id.desc()).limit(limit))).scalars())


async def transition(session: AsyncSession, job_id: int, workspace_id: uuid.UUID | None,
                     from_statuses: Sequence[str], values: dict[str, Any]) -> bool:
    """Change a job only if it is still in one of ``from_statuses`` (atomic vs. workers)."""
    stmt = update(Job).where(Job.id == job_id, Job.status.in_(from_statuses))
    if workspace_id is not None:
        stmt = stmt.where(Job.workspace_id == workspace_id)
    result: Any = await session.execute(stmt.values(values).execution_options(**_NO_SYNC))
    return bool(result.rowcount == 1)
