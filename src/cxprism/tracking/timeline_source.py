"""Tracked events on the customer timeline (customers.timeline)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers import timeline
from cxprism.tracking import repository as repo
from cxprism.tracking.models import TrackedEvent
from cxprism.tracking.schemas import TrackedEventOut
from cxprism.tracking.service import TrackingService

SEQ_DIGITS = 20  # keys sort as numbers do


class TrackedEventsTimeline:
    kind = "event"

    async def newest_first(self, session: AsyncSession, workspace_id: uuid.UUID,
                           customer_id: uuid.UUID, bound: timeline.Bound | None,
                           limit: int) -> list[timeline.Entry]:
        service = TrackingService(session, workspace_id)
        user_ids, anonymous_ids = await service.ids_of_customer(customer_id)
        if not user_ids and not anonymous_ids:
            return []
        conditions = [repo.of_ids(user_ids, anonymous_ids)]
        if bound is not None:
            conditions.append(timeline.within(bound, TrackedEvent.timestamp, TrackedEvent.seq,
                                              int))
        found = await service.events.newest_first(conditions, None, limit)
        return [timeline.Entry(e.timestamp, self.kind, f"{e.seq:0{SEQ_DIGITS}d}", {
            "kind": self.kind, "at": e.timestamp,
            "event": TrackedEventOut.of(e).model_dump(mode="json")}) for e in found]


timeline.register(TrackedEventsTimeline())
