"""The seam between the relay and the transport.

The relay hands each workspace's events, in order, to an :class:`EventBackend`. The
embedded backend delivers them to the consumers in this process; a NATS JetStream backend
publishes them (message id = event id, for JetStream's de-duplication) and runs durable
consumers that call the same :func:`cxprism.bus.consumers.deliver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cxprism.bus.consumers import ConsumerRegistry, Outcome, deliver
from cxprism.bus.events import DomainEvent
from cxprism.kit.db import Database


class EventBackend(Protocol):
    async def publish(self, events: Sequence[DomainEvent]) -> int:
        """Hand over events of one workspace in sequence order.

        Returns how many, from the start, are safely handed over; the relay advances its
        cursor by that many and offers the rest again later.
        """
        ...

    async def close(self) -> None: ...


class InProcessBackend:
    def __init__(self, db: Database, registry: ConsumerRegistry) -> None:
        self.db = db
        self.registry = registry

    async def publish(self, events: Sequence[DomainEvent]) -> int:
        for done, event in enumerate(events):
            for consumer in self.registry.for_type(event.type):
                if await deliver(self.db, consumer, event) is Outcome.RETRY:
                    # Keep the workspace's order: nothing after this event goes out first.
                    return done
        return len(events)

    async def close(self) -> None:
        return None
