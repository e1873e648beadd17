"""Batch handlers: jobs whose work happens outside the database, many at once.

Sending a message or delivering a webhook is an HTTP call. Run one job per transaction
and the calls happen one after another; run them in one shared transaction and a failing
neighbour would roll back (and repeat) calls that already went out. A batch handler gets
every claimed job of its kind together and runs its own short transactions instead,
typically:

1. ``hold`` the jobs (those a rescuer has not taken) and record that their work is
   starting, then commit, so a crash after this point is noticed, not blindly repeated;
2. do the I/O concurrently, outside any transaction;
3. record the results and ``settle`` the jobs in the same transaction, then commit.

A job still running under this worker once the handler returns (it raised, forgot to
settle, or its settling transaction never committed) is failed by the worker like any
failing job: retried with backoff, or buried after its last attempt.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler import repository as repo
from cxprism.scheduler.backoff import retry_delay

MAX_ERROR_CHARS = 4000


@dataclass(frozen=True)
class Done:
    """The job's work is finished."""


@dataclass(frozen=True)
class Retry:
    """Run the job again: at ``at`` (a provider's Retry-After, say) or after the usual
    backoff. After its last attempt the job is buried instead."""

    error: str
    at: datetime | None = None


@dataclass(frozen=True)
class Bury:
    """Give up now: the job moves to the dead-letter state for inspection."""

    error: str


Outcome = Done | Retry | Bury
DONE = Done()


@dataclass(frozen=True)
class BatchJob:
    id: int
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    unique_key: str | None
    workspace_id: uuid.UUID | None

    @property
    def last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


@dataclass
class JobBatch:
    """What a batch handler gets: its jobs, the database, and how to settle them."""

    db: Database
    kind: str
    jobs: list[BatchJob]
    owner: str

    async def hold(self, session: AsyncSession) -> list[BatchJob]:
        """The jobs still ours, locked until ``session``'s transaction ends."""
        mine = await repo.hold(session, [job.id for job in self.jobs], self.owner)
        return [job for job in self.jobs if job.id in mine]

    async def settle(self, session: AsyncSession, outcomes: Mapping[int, Outcome]) -> None:
        """Write the jobs' outcomes in ``session``'s transaction, so they commit together
        with whatever the handler recorded about them. Jobs no longer ours are skipped."""
        by_id = {job.id: job for job in await self.hold(session) if job.id in outcomes}
        now = utcnow()
        done = [job_id for job_id in by_id if isinstance(outcomes[job_id], Done)]
        if done:
            await repo.mark_succeeded(session, done, now)
        for job_id, job in by_id.items():
            outcome = outcomes[job_id]
            if isinstance(outcome, Retry) and not job.last_attempt:
                run_at = outcome.at or now + timedelta(seconds=retry_delay(job.attempt))
                await repo.reschedule(session, job_id, run_at,
                                      outcome.error[:MAX_ERROR_CHARS], now)
            elif isinstance(outcome, Retry | Bury):
                await repo.bury(session, job_id, outcome.error[:MAX_ERROR_CHARS], now)


BatchHandler = Callable[[JobBatch], Awaitable[None]]


def batch_jobs(jobs: Sequence[repo.ClaimedJob]) -> list[BatchJob]:
    return [BatchJob(id=job.id, payload=job.payload, attempt=job.attempts,
                     max_attempts=job.max_attempts, unique_key=job.unique_key,
                     workspace_id=job.workspace_id) for job in jobs]
