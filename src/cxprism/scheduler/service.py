"""Enqueueing jobs, and the operator actions the API and CLI share: list, retry, cancel.

``enqueue`` writes into the caller's transaction and only flushes: a job exists exactly
when the change that caused it commits.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.clock import ensure_utc, utcnow
from cxprism.kit.errors import Conflict, NotFound, Unprocessable
from cxprism.scheduler import repository as repo
from cxprism.scheduler.models import MAX_JOB_ID, Job, JobStatus

MAX_KIND_LENGTH = 100
MAX_UNIQUE_KEY_LENGTH = 255 - 36  # room for the workspace prefix (scoped_unique_key)
_CURSOR_PREFIX = "job:"


async def enqueue(session: AsyncSession, kind: str, payload: dict[str, Any], *,
                  run_at: datetime | None = None, priority: int = 100,
                  unique_key: str | None = None, max_attempts: int = 10,
                  workspace_id: uuid.UUID | None = None) -> int | None:
    """Add a job in ``session``'s transaction; returns its id.

    With a ``unique_key`` that a job already has, nothing is added and the existing job's
    id is returned (None if it vanished meanwhile, e.g. swept after succeeding), so
    enqueueing is idempotent. Invalid arguments are programming errors: ``ValueError``.
    """
    _check_arguments(kind, unique_key, max_attempts)
    unique_key = scoped_unique_key(unique_key, workspace_id)
    now = utcnow()
    values = {
        "kind": kind, "payload": payload, "priority": priority, "unique_key": unique_key,
        "max_attempts": max_attempts, "workspace_id": workspace_id, "attempts": 0,
        "status": JobStatus.QUEUED.value, "created_at": now, "updated_at": now,
        "run_at": ensure_utc(run_at) if run_at is not None else now,
    }
    new_id = await repo.insert_job(session, values)
    if new_id is None and unique_key is not None:
        return await repo.id_by_unique_key(session, unique_key)
    return new_id


async def enqueue_many(session: AsyncSession, kind: str,
                       jobs: list[tuple[dict[str, Any], datetime | None, str]], *,
                       max_attempts: int = 10, workspace_id: uuid.UUID | None = None) -> None:
    """Add many jobs (payload, run_at, unique key) in one statement; keys already taken
    are skipped, as with :func:`enqueue`."""
    if not jobs:
        return
    now = utcnow()
    rows = []
    for payload, run_at, unique_key in jobs:
        _check_arguments(kind, unique_key, max_attempts)
        rows.append({
            "kind": kind, "payload": payload, "priority": 100,
            "unique_key": scoped_unique_key(unique_key, workspace_id),
            "max_attempts": max_attempts, "workspace_id": workspace_id, "attempts": 0,
            "status": JobStatus.QUEUED.value, "created_at": now, "updated_at": now,
            "run_at": ensure_utc(run_at) if run_at is not None else now})
    await repo.insert_jobs_ignoring_taken_keys(session, rows)


def scoped_unique_key(unique_key: str | None, workspace_id: uuid.UUID | None) -> str | None:
    """A workspace's keys live in its own namespace: tenants cannot collide, nor probe."""
    if unique_key is None or workspace_id is None:
        return unique_key
    return f"ws:{workspace_id.hex}:{unique_key}"


def _check_arguments(kind: str, unique_key: str | None, max_attempts: int) -> None:
    if not kind or len(kind) > MAX_KIND_LENGTH:
        raise ValueError(f"job kind must be 1-{MAX_KIND_LENGTH} characters, got {kind!r}")
    if unique_key is not None and not 0 < len(unique_key) <= MAX_UNIQUE_KEY_LENGTH:
        raise ValueError(f"unique_key must be 1-{MAX_UNIQUE_KEY_LENGTH} characters")
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")


# --- listing ---------------------------------------------------------------------------

def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith(_CURSOR_PREFIX):
            raise ValueError("no prefix")
        last_id = int(raw.removeprefix(_CURSOR_PREFIX))
        if not 1 <= last_id <= MAX_JOB_ID:
            raise ValueError("out of range")
        return last_id
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise Unprocessable(
            "The cursor is not one this API issued; pass next_cursor from a previous page.",
            details={"field": "cursor"},
        ) from exc


async def list_jobs(session: AsyncSession, workspace_id: uuid.UUID | None, *,
                    status: JobStatus | None = None, kind: str | None = None,
                    cursor: str | None = None, limit: int = 50) -> tuple[list[Job], str | None]:
    """A page of jobs, newest first, and the cursor of the next page (None on the last).

    ``workspace_id`` None lists every workspace's jobs: for operators only.
    """
    jobs = await repo.page(session, workspace_id, status=status.value if status else None,
                           kind=kind, before_id=decode_cursor(cursor), limit=limit + 1)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    return jobs, encode_cursor(jobs[-1].id) if more else None


async def get_job(session: AsyncSession, job_id: int, workspace_id: uuid.UUID | None) -> Job:
    job = await repo.get(session, job_id, workspace_id)
    if job is None:
        raise NotFound(f"No job with id {job_id}.")
    return job


# --- operator actions ------------------------------------------------------------------

RETRYABLE = (JobStatus.DEAD.value, JobStatus.CANCELLED.value, JobStatus.QUEUED.value)


async def retry_job(session: AsyncSession, job_id: int, workspace_id: uuid.UUID | None) -> Job:
    """Queue a dead, cancelled or failed (waiting to retry) job to run now, attempts reset."""
    job = await get_job(session, job_id, workspace_id)
    if job.status == JobStatus.QUEUED.value and job.attempts == 0:
        raise Conflict(f"Job {job_id} is queued and has not run yet; nothing to retry.",
                       code="job_not_retryable")
    now = utcnow()
    changed = await repo.transition(session, job_id, workspace_id, RETRYABLE, {
        "status": JobStatus.QUEUED.value, "attempts": 0, "run_at": now, "finished_at": None,
        "lease_owner": None, "lease_expires_at": None, "updated_at": now})
    if not changed:
        raise _cannot(job_id, await _current_status(session, job_id, workspace_id), "retried")
    return await _reloaded(session, job_id, workspace_id)


async def cancel_job(session: AsyncSession, job_id: int, workspace_id: uuid.UUID | None) -> Job:
    """Cancel a queued job. A running job cannot be cancelled: it finishes or fails."""
    await get_job(session, job_id, workspace_id)
    now = utcnow()
    changed = await repo.transition(session, job_id, workspace_id, (JobStatus.QUEUED.value,), {
        "status": JobStatus.CANCELLED.value, "finished_at": now, "updated_at": now})
    if not changed:
        raise _cannot(job_id, await _current_status(session, job_id, workspace_id), "cancelled")
    return await _reloaded(session, job_id, workspace_id)


async def _current_status(session: AsyncSession, job_id: int,
                          workspace_id: uuid.UUID | None) -> str:
    job = await get_job(session, job_id, workspace_id)
    await session.refresh(job)
    return job.status


def _cannot(job_id: int, status: str, action: str) -> Conflict:
    reasons = {
        JobStatus.RUNNING.value: "it is running now; wait for it to finish or fail",
        JobStatus.SUCCEEDED.value: "it already succeeded; enqueue a new job instead",
        JobStatus.CANCELLED.value: "it is already cancelled",
        JobStatus.DEAD.value: "it is dead; retry it instead",
        JobStatus.QUEUED.value: "it is queued",
    }
    reason = reasons.get(status, f"its status is {status}")
    return Conflict(f"Job {job_id} cannot be {action}: {reason}.", code=f"job_not_{action}",
                    details={"status": status})


async def _reloaded(session: AsyncSession, job_id: int, workspace_id: uuid.UUID | None) -> Job:
    job = await get_job(session, job_id, workspace_id)
    await session.refresh(job)
    return job
