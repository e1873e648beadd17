"""The scheduler's worker loop: claim a batch, run it, repeat; rescue and sweep on the side.

A batch is claimed in one short transaction, then executed in a second one: the handlers
run in that transaction and every success is marked in one UPDATE before the commit, so a
handler's database effects and its job's completion commit together. The common case, no
handler failing, needs no savepoint; when one fails the batch is rolled back and run again
with a SAVEPOINT per job, so only the failing jobs' effects are undone.
A worker killed mid-batch loses that transaction; its jobs stay ``running`` until their
lease expires and any worker's rescue queues them again.

Why no lease heartbeat: while a batch executes, its transaction holds the job rows
(row locks on PostgreSQL, which rescue skips with SKIP LOCKED; the single write lock on
SQLite), so a live worker's jobs cannot be rescued however long they run. The lease only
matters once the worker is gone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler import repository as repo
from cxprism.scheduler.backoff import retry_delay
from cxprism.scheduler.batches import JobBatch, batch_jobs
from cxprism.scheduler.registry import JobContext, JobRegistry

log = logging.getLogger("cxprism.scheduler")

RETENTION = timedelta(days=7)  # succeeded jobs are deleted after this; dead ones are kept
SWEEP_BATCH = 1000
SWEEP_MAX_BATCHES = 20  # per maintenance round, so a backlog never blocks the loop for long
RESCUE_BATCH = 1000
MAX_ERROR_CHARS = 4000
MAX_DB_BACKOFF_SECONDS = 30.0
SQLITE_WRITER_GAP_SECONDS = 0.01


class Worker:
    def __init__(self, db: Database, registry: JobRegistry, *, owner: str,
                 batch_size: int = 100, lease_seconds: float = 60.0,
                 poll_seconds: float = 0.2, maintenance_seconds: float | None = None,
                 retention: timedelta = RETENTION) -> None:
        self.db = db
        self.registry = registry
        self.owner = owner
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        # Rescue often enough that a dead worker's jobs wait about one lease, not more.
        self.maintenance_seconds = maintenance_seconds or min(30.0, max(0.5, lease_seconds / 2))
        self.retention = retention
        self.wakeup = asyncio.Event()  # set it to make an idle worker look for jobs now

    # --- the loop ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        failures = 0
        next_maintenance = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() >= next_maintenance:
                    await self.maintain()
                    next_maintenance = time.monotonic() + self.maintenance_seconds
                handled = await self.run_once(stop)
                failures = 0
            except Exception:
                failures += 1
                delay = min(MAX_DB_BACKOFF_SECONDS, self.poll_seconds * 2 ** min(failures, 10))
                log.exception("scheduler worker %s failed; retrying in %.1fs", self.owner, delay)
                await self._idle(stop, delay)
                continue
            if handled == 0:
                await self._idle(stop, self.poll_seconds)
            elif self.db.dialect == "sqlite":
                # SQLite has one write lock and other processes poll for it with sleeps:
                # a short gap between batches lets them in (measured: 55 ms worst wait
                # without it, 2 ms with it, for a writer in another process).
                await asyncio.sleep(SQLITE_WRITER_GAP_SECONDS)

    async def _idle(self, stop: asyncio.Event, seconds: float) -> None:
        """Sleep until ``seconds`` pass, ``stop`` is set or someone sets ``wakeup``."""
        self.wakeup.clear()
        waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wakeup.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()

    # --- one batch ---------------------------------------------------------------------

    async def run_once(self, stop: asyncio.Event | None = None) -> int:
        """Claim and execute one batch; returns how many jobs were claimed."""
        jobs = await self._claim()
        if jobs:
            await self._execute(jobs, stop)
        return len(jobs)

    async def _claim(self) -> list[repo.ClaimedJob]:
        now = utcnow()
        async with self.db.session() as session:
            jobs = await repo.claim(session, self.owner, now, self._lease_end(), self.batch_size)
            await session.commit()
        return jobs

    async def _execute(self, jobs: list[repo.ClaimedJob], stop: asyncio.Event | None) -> None:
        by_batch_kind: dict[str, list[repo.ClaimedJob]] = {}
        for job in jobs:
            if self.registry.batch_handler(job.kind) is not None:
                by_batch_kind.setdefault(job.kind, []).append(job)
        jobs = [job for job in jobs if job.kind not in by_batch_kind]
        for kind, of_kind in by_batch_kind.items():
            await self._execute_batch_handler(kind, of_kind)
        external = [job for job in jobs if self.registry.is_external(job.kind)]
        batched = [job for job in jobs if not self.registry.is_external(job.kind)]
        for job in external:  # one transaction each, run once: a send is never repeated
            await self._execute_batch([job], stop, together=False)
        if batched:
            await self._execute_batch(batched, stop, together=True)

    async def _execute_batch(self, jobs: list[repo.ClaimedJob], stop: asyncio.Event | None,
                             *, together: bool) -> None:
        async with self.db.session() as session:
            mine = await repo.hold(session, [job.id for job in jobs], self.owner)
            runnable = [job for job in jobs if job.id in mine]
            if together:
                outcome = await self._run_together(session, runnable, stop)
            else:
                outcome = await self._run_isolated(session, runnable, stop)
            if outcome is None:
                # A handler failed: undo the whole batch, then run each job in its own
                # savepoint so only the failing ones roll back. Handlers that had run are
                # run again, but their first effects were rolled back: still exactly once.
                await session.rollback()
                mine = await repo.hold(session, [job.id for job in runnable], self.owner)
                runnable = [job for job in runnable if job.id in mine]
                outcome = await self._run_isolated(session, runnable, stop)
            succeeded, unstarted = outcome
            now = utcnow()
            if succeeded:
                await repo.mark_succeeded(session, succeeded, now)
            if unstarted:
                await repo.release(session, unstarted, now)
            await session.commit()
        if len(mine) < len(jobs):
            log.warning("worker %s lost %d job(s) to rescue before running them",
                        self.owner, len(jobs) - len(mine))

    async def _execute_batch_handler(self, kind: str, jobs: list[repo.ClaimedJob]) -> None:
        handler = self.registry.batch_handler(kind)
        assert handler is not None
        batch = JobBatch(self.db, kind, batch_jobs(jobs), self.owner)
        error: Exception = RuntimeError("the batch handler did not settle this job")
        try:
            await handler(batch)
        except Exception as exc:
            log.exception("batch handler for %s failed", kind)
            error = exc
        # Jobs settled in a committed transaction are no longer running under our lease.
        async with self.db.session() as session:
            mine = await repo.hold(session, [job.id for job in jobs], self.owner)
            for job in jobs:
                if job.id in mine:
                    await self._fail(session, job, error)
            await session.commit()

    async def _run_together(self, session: AsyncSession, jobs: list[repo.ClaimedJob],
                            stop: asyncio.Event | None) -> tuple[list[int], list[int]] | None:
        """The fast path: no savepoints. None as soon as any handler fails."""
        succeeded: list[int] = []
        unstarted: list[int] = []
        for job in jobs:
            if stop is not None and stop.is_set():
                unstarted.append(job.id)  # stopping: give it back rather than run it
                continue
            handler = self.registry.get(job.kind)
            if handler is None:
                await self._bury_unknown(session, job)
                continue
            try:
                await handler(self._context(session, job))
            except Exception:  # retried below, one savepoint per job
                return None
            succeeded.append(job.id)
        return succeeded, unstarted

    async def _run_isolated(self, session: AsyncSession, jobs: list[repo.ClaimedJob],
                            stop: asyncio.Event | None) -> tuple[list[int], list[int]]:
        succeeded: list[int] = []
        unstarted: list[int] = []
        for job in jobs:
            if stop is not None and stop.is_set():
                unstarted.append(job.id)
            elif await self._run_one(session, job):
                succeeded.append(job.id)
        return succeeded, unstarted

    def _context(self, session: AsyncSession, job: repo.ClaimedJob) -> JobContext:
        return JobContext(session=session, job_id=job.id, kind=job.kind,
                          payload=job.payload, attempt=job.attempts,
                          unique_key=job.unique_key, workspace_id=job.workspace_id)

    async def _bury_unknown(self, session: AsyncSession, job: repo.ClaimedJob) -> None:
        await repo.bury(session, job.id, f"no handler is registered for job kind "
                        f"{job.kind!r}; register one and retry the job", utcnow())
        log.error("job %d: unknown kind %r; moved to dead", job.id, job.kind)

    async def _run_one(self, session: AsyncSession, job: repo.ClaimedJob) -> bool:
        """Run one handler in a savepoint; on failure, schedule the retry. True if it ran."""
        handler = self.registry.get(job.kind)
        if handler is None:
            await self._bury_unknown(session, job)
            return False
        try:
            async with session.begin_nested():
                await handler(self._context(session, job))
        except Exception as exc:
            await self._fail(session, job, exc)
            return False
        return True

    async def _fail(self, session: AsyncSession, job: repo.ClaimedJob, exc: Exception) -> None:
        error = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
        now = utcnow()
        if job.attempts >= job.max_attempts:
            await repo.bury(session, job.id, error, now)
            log.error("job %d (%s) failed attempt %d of %d; moved to dead: %s",
                      job.id, job.kind, job.attempts, job.max_attempts, error)
            return
        delay = retry_delay(job.attempts)
        await repo.reschedule(session, job.id, now + timedelta(seconds=delay), error, now)
        log.warning("job %d (%s) failed attempt %d of %d; retrying in %.1fs: %s",
                    job.id, job.kind, job.attempts, job.max_attempts, delay, error)

    def _lease_end(self) -> datetime:
        return utcnow() + timedelta(seconds=self.lease_seconds)

    # --- maintenance -------------------------------------------------------------------

    async def maintain(self) -> dict[str, int]:
        """Rescue jobs of dead workers and delete succeeded jobs past retention."""
        now = utcnow()
        async with self.db.session() as session:
            counts = await repo.rescue_expired(session, now, RESCUE_BATCH)
            await session.commit()
        if any(counts.values()):
            log.warning("rescued jobs with expired leases: %s", counts)
        counts["deleted"] = await self._sweep(now - self.retention)
        return counts

    async def _sweep(self, cutoff: datetime) -> int:
        deleted = 0
        for _ in range(SWEEP_MAX_BATCHES):
            async with self.db.session() as session:
                removed = await repo.delete_succeeded_before(session, cutoff, SWEEP_BATCH)
                await session.commit()
            deleted += removed
            if removed < SWEEP_BATCH:
                break
        return deleted
