"""A recording consumer for bus tests."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import ConsumerRegistry
from cxprism.bus.events import DomainEvent

_PENDING = "recorder.pending"


@dataclass
class Recorder:
    seen: list[DomainEvent] = field(default_factory=list)
    fail_times: dict[uuid.UUID, int] = field(default_factory=dict)

    async def handle(self, session: AsyncSession, event: DomainEvent) -> None:
        remaining = self.fail_times.get(event.id, 0)
        if remaining:
            self.fail_times[event.id] = remaining - 1
            raise RuntimeError("consumer failed on purpose")
        # Seen once the consumer's transaction commits, as a real consumer's effects are.
        pending: list[DomainEvent] = session.info.setdefault(_PENDING, [])
        if not pending:
            sync = session.sync_session
            sa_event.listen(sync, "after_commit",
                            lambda s: self.seen.extend(s.info.pop(_PENDING, [])), once=True)
            sa_event.listen(sync, "after_soft_rollback",
                            lambda s, _t: s.info.pop(_PENDING, None), once=True)
        pending.append(event)

    def of(self, workspace_id: uuid.UUID) -> list[DomainEvent]:
        return [e for e in self.seen if e.workspace_id == workspace_id]


def registry_with(recorder: Recorder, *patterns: str) -> ConsumerRegistry:
    registry = ConsumerRegistry()
    registry.register("recorder", *(patterns or ("*",)))(recorder.handle)
    return registry
