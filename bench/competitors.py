"""Other PostgreSQL job queues run by ``scheduler_bench.py`` beside ours: pgqueuer, procrastinate.

Each contender has its own database (so its schema never meets ours), installed with the
library's own schema API, and four small functions: ``setup`` (database + schema),
``fill`` (N no-op jobs through the library's batch enqueue API, before the clock),
``worker`` (one worker process: warm up, wait for the start signal, drain the queue the
library's idiomatic way, return when the library says the queue is done) and ``unfinished``
(a row count afterwards, so a contender that stopped early cannot score).
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from typing import Any

import asyncpg
import procrastinate
from pgqueuer import Job, Queries, QueueManager
from pgqueuer.db import AsyncpgDriver
from pgqueuer.types import QueueExecutionMode

NOOP = "bench_noop"
ENQUEUE_CHUNK = 10_000  # jobs per batch-enqueue call: one round trip each, bounded memory
# procrastinate fetches one job per query; its knob is how many jobs run at once. Measured
# here (2 CPUs): 1 and 20 gave the same jobs/s (~250-300), so 10 keeps connections modest.
PROCRASTINATE_CONCURRENCY = int(os.environ.get("CXPRISM_BENCH_PROCRASTINATE_CONCURRENCY", "10"))


@dataclass(frozen=True)
class Competitor:
    setup: Any  # async (server_dsn) -> dsn of its fresh database
    fill: Any  # async (dsn, jobs) -> None
    worker: Any  # async (dsn, batch, name, gate) -> None, runs in a worker process
    unfinished: Any  # async (dsn, jobs) -> jobs not recorded as done
    settings: str  # what the table shows; {batch} is the bench's --batch


async def recreate(server_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(server_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return server_dsn.rsplit("/", 1)[0] + "/" + name


async def sql(dsn: str, *statements: str) -> Any:
    """Run statements on a fresh connection; returns the first column of the last one."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements[:-1]:
            await conn.execute(statement)
        return await conn.fetchval(statements[-1])
    finally:
        await conn.close()


async def wait_for(gate: tuple[Any, Any]) -> None:
    """Tell the bench this worker process is warmed up, then wait for the start signal."""
    ready, start = gate
    ready.release()
    # In a thread, so the library's own background tasks keep running meanwhile.
    await asyncio.to_thread(start.wait)


# --- pgqueuer: asyncpg driver, QueueManager.run in drain mode ------------------------------

async def pgqueuer_setup(server_dsn: str) -> str:
    dsn = await recreate(server_dsn, "cxprism_bench_pgqueuer")
    conn = await asyncpg.connect(dsn)
    try:
        await Queries(AsyncpgDriver(conn)).install()  # what `pgq install` runs
    finally:
        await conn.close()
    return dsn


async def pgqueuer_fill(dsn: str, jobs: int) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        queries = Queries(AsyncpgDriver(conn))
        for first in range(0, jobs, ENQUEUE_CHUNK):
            size = min(ENQUEUE_CHUNK, jobs - first)
            await queries.enqueue([NOOP] * size, [None] * size, [0] * size)
        await conn.execute("VACUUM ANALYZE pgqueuer")
    finally:
        await conn.close()


async def pgqueuer_worker(dsn: str, batch: int, _name: str, gate: Any) -> None:
    manager = QueueManager(Queries(AsyncpgDriver(await asyncpg.connect(dsn))))

    @manager.entrypoint(NOOP)
    async def noop(_job: Job) -> None:
        return None

    await manager.verify_structure()  # warm-up: connection open, catalog queries done
    await wait_for(gate)
    # drain: the manager returns once the queue is empty and its in-flight jobs are logged.
    await manager.run(batch_size=batch, mode=QueueExecutionMode.drain)


async def pgqueuer_unfinished(dsn: str, jobs: int) -> int:
    # Done jobs leave the queue table and get a 'successful' row in the log table.
    done = await sql(dsn, "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'")
    return jobs - int(done)


# --- procrastinate: psycopg pool, App.run_worker_async(wait=False) ---------------------------

def procrastinate_app(dsn: str, pool_size: int = 2) -> procrastinate.App:
    connector = procrastinate.PsycopgConnector(conninfo=dsn, min_size=pool_size,
                                               max_size=pool_size)
    app = procrastinate.App(connector=connector)

    @app.task(name=NOOP)
    async def noop() -> None:
        return None

    return app


async def procrastinate_setup(server_dsn: str) -> str:
    dsn = await recreate(server_dsn, "cxprism_bench_procrastinate")
    async with procrastinate_app(dsn).open_async() as app:
        await app.schema_manager.apply_schema_async()  # what `procrastinate schema --apply` runs
    return dsn


async def procrastinate_fill(dsn: str, jobs: int) -> None:
    async with procrastinate_app(dsn).open_async() as app:
        task = app.tasks[NOOP]
        for first in range(0, jobs, ENQUEUE_CHUNK):
            await task.batch_defer_async(*({} for _ in range(min(ENQUEUE_CHUNK, jobs - first))))
    await sql(dsn, "VACUUM ANALYZE procrastinate_jobs", "SELECT 1")


async def procrastinate_worker(dsn: str, _batch: int, name: str, gate: Any) -> None:
    # One pooled connection per running job, plus the LISTEN connection and a spare.
    app = procrastinate_app(dsn, pool_size=PROCRASTINATE_CONCURRENCY + 2)
    async with app.open_async():
        await app.check_connection_async()  # warm-up: the pool is open
        await wait_for(gate)
        # wait=False: the worker stops once no job is left and its running jobs are done.
        await app.run_worker_async(name=name, concurrency=PROCRASTINATE_CONCURRENCY,
                                   wait=False, install_signal_handlers=False)


async def procrastinate_unfinished(dsn: str, jobs: int) -> int:
    done = await sql(dsn, "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'")
    return jobs - int(done)


COMPETITORS = {
    "pgqueuer": Competitor(pgqueuer_setup, pgqueuer_fill, pgqueuer_worker, pgqueuer_unfinished,
                           "QueueManager.run(batch_size={batch}, mode=drain)"),
    "procrastinate": Competitor(procrastinate_setup, procrastinate_fill, procrastinate_worker,
                                procrastinate_unfinished,
                                f"run_worker_async(concurrency={PROCRASTINATE_CONCURRENCY}, "
                                "wait=False)"),
}
