"""Acceptance: a worker SIGKILLed at random points loses no job and applies no effect twice.

A worker subprocess works through the jobs; the test kills it with SIGKILL at random
moments (at least 20 times, each while jobs remain), restarts it, then lets it finish.
Every job must have succeeded and every job's effect counter must be exactly 1.

The kill moments come from a seeded generator: the seed is printed (pytest shows it with a
failure) and ``CXPRISM_DURABILITY_SEED=<seed>`` replays the same kill schedule. Where a
kill lands also depends on the machine's speed, so a replay is close, not exact.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler.models import Job
from tests.scheduler.helpers import create_effects_table, effects

JOBS = 600
KILLS = 20
SEED_VARIABLE = "CXPRISM_DURABILITY_SEED"
# Bounds on waits only stop a hung test; they are deliberately generous (a loaded CI
# machine can be slow) and are never a measurement.
FINISH_SECONDS = 180.0
STOP_SECONDS = 30.0
ROOT = Path(__file__).resolve().parents[2]


def start_worker(url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.scheduler.durability_worker", url],
        cwd=ROOT, stdout=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    assert process.stdout.readline().strip() == b"ready"  # imports done: the worker starts
    return process


async def unfinished(db: Database) -> int:
    if db.dialect == "sqlite":
        # Sessions begin IMMEDIATE (they take SQLite's one write lock), and a worker with a
        # backlog retakes that lock between batches faster than a waiter's busy-retry gets
        # it; a plain WAL reader needs no lock at all.
        path = make_url(db.url).database
        with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            return int(conn.execute(
                "SELECT count(*) FROM jobs WHERE status != 'succeeded'").fetchone()[0])
    async with db.session() as session:
        return int((await session.execute(
            select(func.count()).select_from(Job).where(Job.status != "succeeded"))).scalar_one())


async def enqueue_jobs(db: Database, first: int = 0) -> int:
    """JOBS more jobs, numbered from ``first``; the number after the last."""
    now = utcnow()
    rows = [{"kind": "durable.effect", "payload": {"n": n}, "unique_key": f"effect-{n}",
             "run_at": now, "priority": 100, "attempts": 0, "max_attempts": 1000,
             "status": "queued", "created_at": now, "updated_at": now}
            for n in range(first, first + JOBS)]
    async with db.session() as session:
        await session.execute(insert(Job), rows)
        await session.commit()
    return first + JOBS


async def test_sigkilled_worker_loses_nothing_and_repeats_nothing(
        db: Database, database_url: str) -> None:
    await create_effects_table(db)
    total = await enqueue_jobs(db)
    seed = int(os.environ.get(SEED_VARIABLE) or random.SystemRandom().randrange(2**32))
    print(f"kill schedule: {SEED_VARIABLE}={seed}")  # shown by pytest when the test fails
    rng = random.Random(seed)
    kills = 0
    while kills < KILLS:
        worker = start_worker(database_url)
        await asyncio.sleep(rng.uniform(0.05, 0.4))
        left = await unfinished(db)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert left > 0, f"the jobs ran out after only {kills} kills; add jobs (seed {seed})"
        kills += 1
        if left < JOBS // 2:  # a fast machine: keep work in hand for the kills still to come
            total = await enqueue_jobs(db, total)

    worker = start_worker(database_url)
    deadline = time.monotonic() + FINISH_SECONDS
    while time.monotonic() < deadline:  # polls another process's progress
        if not await unfinished(db):
            break
        await asyncio.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=STOP_SECONDS) == 0, f"seed {seed}"

    assert await unfinished(db) == 0, f"seed {seed}"
    counted = await effects(db)
    assert len(counted) == total, f"seed {seed}"
    assert {key for key, applied in counted.items() if applied != 1} == set(), f"seed {seed}"
    async with db.session() as session:  # kills did land mid-batch: those jobs ran again
        rerun = (await session.execute(
            select(func.count()).select_from(Job).where(Job.attempts > 1))).scalar_one()
    assert rerun > 0, f"seed {seed}"
