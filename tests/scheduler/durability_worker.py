"""A scheduler worker process for the durability test: ``python -m
tests.scheduler.durability_worker DATABASE_URL``. The test SIGKILLs it at random moments.

Its handler counts the job's effect under the job's unique key (a second application
would show as 2) and sleeps a little, so kills land in the middle of batches.
"""

from __future__ import annotations

import asyncio
import signal
import sys

from cxprism.kit.db import Database
from cxprism.scheduler.registry import JobContext, JobRegistry
from cxprism.scheduler.worker import Worker
from tests.scheduler.helpers import apply_effect

LEASE_SECONDS = 1.0
HANDLER_SECONDS = 0.004


async def main(url: str) -> None:
    registry = JobRegistry()

    @registry.register("durable.effect")
    async def effect(ctx: JobContext) -> None:
        await apply_effect(ctx)
        await asyncio.sleep(HANDLER_SECONDS)

    db = Database(url, pool_size=2)
    worker = Worker(db, registry, owner=f"durability-{asyncio.get_running_loop().time():.3f}",
                    batch_size=20, lease_seconds=LEASE_SECONDS, poll_seconds=0.05,
                    maintenance_seconds=0.25)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await worker.run(stop)
    await db.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
