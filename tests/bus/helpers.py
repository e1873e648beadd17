"""A recording consumer for bus tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import ConsumerRegistry
from cxprism.bus.events import DomainEvent


@dataclass
class Recorder:
    seen: list[DomainEvent] = field(default_factory=list)
    fail_times: dict[uuid.UUID, int] = field(default_factory=dict)

    async def handle(self, _session: AsyncSession, event: DomainEvent) -> None:
        remaining = self.fail_times.get(event.id, 0)
        if remaining:
            self.fail_times[event.id] = remaining - 1
            raise RuntimeError("consumer failed on purpose")
        self.seen.append(event)

    def of(self, workspace_id: uuid.UUID) -> list[DomainEvent]:
        return [e for e in self.seen if e.workspace_id == workspace_id]


def registry_with(recorder: Recorder, *patterns: str) -> ConsumerRegistry:
    registry = ConsumerRegistry()
    registry.register("recorder", *(patterns or ("*",)))(recorder.handle)
    return registry
