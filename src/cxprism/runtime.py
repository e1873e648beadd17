"""Background machinery: the outbox relay and scheduler workers, as asyncio tasks.

``cxprism serve`` runs them beside the API; ``cxprism worker`` runs only them, so more
processes can be added when one machine's process is not enough.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable

from cxprism import housekeeping
from cxprism.bus import events
from cxprism.bus.backends import EventBackend, InProcessBackend
from cxprism.bus.consumers import registry as consumer_registry
from cxprism.bus.relay import Relay
from cxprism.channels import builtin as builtin_channels
from cxprism.config import Settings
from cxprism.conversations import tasks as conversations_tasks
from cxprism.customers import tasks as customers_tasks
from cxprism.kit.db import Database
from cxprism.ledger import tasks as ledger_tasks
from cxprism.outbound import tasks as outbound_tasks
from cxprism.scheduler.registry import registry as job_registry
from cxprism.scheduler.worker import Worker
from cxprism.tracking import tasks as tracking_tasks
from cxprism.webhooks import tasks as webhooks_tasks

log = logging.getLogger("cxprism.runtime")

# Importing a domain's tasks module registers its consumers and job handlers; the send
# jobs need the built-in connectors registered, in `cxprism worker` processes too.
DOMAIN_TASKS = (builtin_channels, customers_tasks, tracking_tasks, conversations_tasks,
                outbound_tasks, webhooks_tasks, ledger_tasks)


def make_backend(db: Database, settings: Settings) -> EventBackend:
    if settings.event_backend == "inprocess":
        return InProcessBackend(db, consumer_registry)
    raise ValueError(f"unknown event backend {settings.event_backend!r}")


class Runtime:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.stop_event = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []
        self._unsubscribe: Callable[[], None] = lambda: None
        owner = f"{socket.gethostname()}-{os.getpid()}"
        self.backend = make_backend(db, settings)
        self.relay = Relay(db, self.backend, owner=f"relay-{owner}")
        self.workers = [
            Worker(db, job_registry, owner=f"worker-{owner}-{n}",
                   batch_size=settings.worker_batch_size,
                   lease_seconds=settings.job_lease_seconds,
                   poll_seconds=settings.scheduler_poll_seconds)
            for n in range(settings.worker_concurrency)
        ]

    async def start(self) -> None:
        self._unsubscribe = events.on_events_committed(self.relay.wakeup.set)
        self.tasks.append(asyncio.create_task(
            self.relay.run(self.stop_event, self.settings.relay_poll_seconds), name="relay"))
        self.tasks.append(asyncio.create_task(
            housekeeping.run(self.db, self.stop_event), name="housekeeping"))
        self.tasks.append(asyncio.create_task(
            ledger_tasks.run(self.db, self.stop_event), name="ledger-checkpoints"))
        for worker in self.workers:
            self.tasks.append(asyncio.create_task(worker.run(self.stop_event), name=worker.owner))
        log.info("runtime started: relay and %d scheduler worker(s)", len(self.workers))

    async def stop(self) -> None:
        self.stop_event.set()
        self._unsubscribe()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.backend.close()
        self.tasks.clear()
