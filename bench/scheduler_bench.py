"""Scheduler throughput: our Worker against a raw SKIP LOCKED claim loop, pgqueuer, procrastinate.

    .venv/bin/python bench/scheduler_bench.py [--jobs 50000] [--batch 500] [--workers 2]
                                              [--skip-competitors]

PostgreSQL: creates (drops first) the database ``cxprism_bench`` on the server named by
CXPRISM_BENCH_POSTGRES_URL (default postgresql+asyncpg://postgres@127.0.0.1:5432/postgres),
and one database per other library (see competitors.py). Every contender gets the same
number of worker processes; once each has warmed up on an empty queue, the same N no-op
jobs are enqueued in bulk and the clock runs from the start signal until the last worker
process has exited, which each does when it finds the queue drained. Also ours on SQLite.
Prints a table and writes bench/results/scheduler-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from competitors import COMPETITORS, Competitor, wait_for
from pg_common import fresh_database, plain_dsn

from cxprism import migrate
from cxprism.kit.db import Database
from cxprism.scheduler.registry import JobContext, JobRegistry
from cxprism.scheduler.worker import Worker

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "cxprism_bench"
RESULTS = Path(__file__).resolve().parent / "results"
FILL = """INSERT INTO jobs (kind, payload, run_at, priority, attempts, max_attempts, status,
                           created_at, updated_at)
          SELECT 'bench.noop', '{}', now(), 100, 0, 10, 'queued', now(), now()
          FROM generate_series(1, $1)"""
RAW_CLAIM = """UPDATE jobs SET status = 'succeeded' WHERE id IN (
                 SELECT id FROM jobs WHERE status = 'queued' AND run_at <= now()
                 ORDER BY priority, run_at LIMIT $1 FOR UPDATE SKIP LOCKED)"""


async def recreate_database(server_url: str) -> str:
    url = await fresh_database(server_url, BENCH_DB)
    await asyncio.to_thread(migrate.upgrade, url)
    return url


async def refill(url: str, jobs: int) -> None:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        await conn.execute("TRUNCATE jobs RESTART IDENTITY")
        await conn.execute(FILL, jobs)
        await conn.execute("VACUUM ANALYZE jobs")
    finally:
        await conn.close()


async def remaining(url: str, _jobs: int) -> int:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM jobs WHERE status <> 'succeeded'"))
    finally:
        await conn.close()


# --- our contenders, each run inside a worker process ------------------------------------

def noop_registry() -> JobRegistry:
    registry = JobRegistry()

    @registry.register("bench.noop")
    async def noop(_ctx: JobContext) -> None:
        return None

    return registry


async def ours(url: str, batch: int, name: str, gate: Any) -> None:
    db = Database(url, pool_size=2)
    worker = Worker(db, noop_registry(), owner=name, batch_size=batch, lease_seconds=60)
    await worker.run_once()  # warm the connection and statement caches on the empty table
    await wait_for(gate)
    while await worker.run_once():
        pass
    await db.dispose()


async def raw(url: str, batch: int, _name: str, gate: Any) -> None:
    conn = await asyncpg.connect(plain_dsn(url))
    await conn.execute(RAW_CLAIM, batch)  # warm-up on the empty table, like ours
    await wait_for(gate)
    while True:
        status = await conn.execute(RAW_CLAIM, batch)
        if status == "UPDATE 0":
            break
    await conn.close()


CONTENDERS: dict[str, Competitor] = {
    # ours and raw share the one migrated database, set up once by main().
    "ours": Competitor(None, refill, ours, remaining, "Worker(batch_size={batch})"),
    "raw": Competitor(None, refill, raw, remaining, "claim UPDATE LIMIT {batch}"),
    **COMPETITORS,
}


def process_main(contender: str, url: str, batch: int, name: str, gate: Any) -> None:
    asyncio.run(CONTENDERS[contender].worker(url, batch, name, gate))


def start_processes(contender: str, url: str, batch: int, workers: int
                    ) -> tuple[list[Any], Any, Any]:
    ctx = mp.get_context("spawn")
    ready, start = ctx.Semaphore(0), ctx.Event()
    procs = [ctx.Process(target=process_main, args=(contender, url, batch, f"{contender}-{n}",
                                                    (ready, start))) for n in range(workers)]
    for proc in procs:
        proc.start()
    return procs, ready, start


def await_ready(contender: str, procs: list[Any], ready: Any) -> None:
    """Block until every process has warmed up; fail fast if one dies first."""
    waiting = len(procs)
    while waiting:
        if ready.acquire(timeout=1.0):
            waiting -= 1
        elif any(proc.exitcode is not None for proc in procs):
            for proc in procs:
                proc.kill()
            raise RuntimeError(f"a {contender} worker died while warming up")


def join_all(contender: str, procs: list[Any]) -> None:
    for proc in procs:
        proc.join()
        if proc.exitcode != 0:
            raise RuntimeError(f"{contender} worker exited with {proc.exitcode}")


async def bench_postgres(contender: str, url: str, jobs: int, batch: int, workers: int
                         ) -> dict[str, Any]:
    procs, ready, start = start_processes(contender, url, batch, workers)
    await asyncio.to_thread(await_ready, contender, procs, ready)
    await CONTENDERS[contender].fill(url, jobs)  # workers are idle: nothing runs before the clock
    began = time.perf_counter()
    start.set()
    await asyncio.to_thread(join_all, contender, procs)
    seconds = time.perf_counter() - began
    left = await CONTENDERS[contender].unfinished(url, jobs)
    return {"name": contender, "backend": "postgresql", "workers": workers,
            "settings": CONTENDERS[contender].settings.format(batch=batch), "jobs": jobs,
            "seconds": round(seconds, 3), "jobs_per_s": round(jobs / seconds),
            "unfinished": left}


async def bench_sqlite(jobs: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await asyncio.to_thread(migrate.upgrade, url)
        db = Database(url)
        now = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")
        async with db.engine.begin() as conn:
            await conn.exec_driver_sql(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO jobs (kind, payload, run_at, priority, attempts, max_attempts, "
                "status, created_at, updated_at) SELECT 'bench.noop', '{}', ?, 100, 0, 10, "
                "'queued', ?, ? FROM n", (jobs, now, now, now))
        worker = Worker(db, noop_registry(), owner="sqlite", batch_size=batch)
        began = time.perf_counter()
        while await worker.run_once():
            pass
        seconds = time.perf_counter() - began
        await db.dispose()
    return {"name": "ours", "backend": "sqlite", "workers": 1, "settings": f"batch={batch}",
            "jobs": jobs, "seconds": round(seconds, 3), "jobs_per_s": round(jobs / seconds),
            "unfinished": 0}


def print_table(rows: list[dict[str, Any]]) -> None:
    print(f"{'contender':<14}{'backend':<12}{'workers':>8}{'jobs':>9}{'seconds':>10}"
          f"{'jobs/s':>10}{'left':>6}  settings")
    for row in rows:
        print(f"{row['name']:<14}{row['backend']:<12}{row['workers']:>8}{row['jobs']:>9}"
              f"{row['seconds']:>10}{row['jobs_per_s']:>10}{row['unfinished']:>6}"
              f"  {row['settings']}")


async def setup_databases(server: str, names: list[str]) -> dict[str, str]:
    """The database URL of each contender; ours and raw share one."""
    ours_url = await recreate_database(server)
    return {name: ours_url if CONTENDERS[name].setup is None
            else await CONTENDERS[name].setup(plain_dsn(server)) for name in names}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("CXPRISM_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    names = ["ours", "raw"] + ([] if args.skip_competitors else list(COMPETITORS))
    urls = await setup_databases(server, names)
    rows = [await bench_postgres(name, urls[name], args.jobs, args.batch, args.workers)
            for name in names]
    rows.append(await bench_sqlite(args.sqlite_jobs, args.batch))
    print_table(rows)
    ratio = rows[0]["jobs_per_s"] / rows[1]["jobs_per_s"]
    print(f"ours / raw = {ratio:.2f}  (targets: ours >= 5000 jobs/s, ratio >= 0.3)")
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "python": sys.version,
            "command": " ".join(sys.argv), "results": rows, "ours_over_raw": round(ratio, 3)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50_000)
    parser.add_argument("--sqlite-jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--skip-competitors", action="store_true",
                        help="only ours and raw (no pgqueuer, no procrastinate)")
    report = asyncio.run(main(parser.parse_args()))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"scheduler-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
