"""The seam between the relay and the transport.

The relay hands each workspace's events, in order, to an :class:`EventBackend`. The
embedded backend delivers them to the consumers in this process; a NATS JetStream backend
publishes them (message id = event id, for JetStream's de-duplication) and runs durable
consumers that call the same :func:`cxprism.bus.consumers.deliver`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from cxprism.bus.consumers import ConsumerRegistry, deliver_many
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
        """Each consumer gets its events of the batch in one go. When one stops at an
        event, the batch is done only up to that event: later consumers get no further,
        and the relay offers the rest again (consumers that already had them skip them by
        their receipts), so no consumer ever sees an event before an earlier one."""
        done = len(events)
        for consumer in self.registry.consumers.values():
            wanted = [event for event in events[:done] if consumer.wants(event.type)]
            if not wanted:
                continue
            handled = await deliver_many(self.db, consumer, wanted)
            if handled < len(wanted):
                done = events.index(wanted[handled])
        return done

    async def close(self) -> None:
        return None
