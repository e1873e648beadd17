"""Sends on the customer timeline (customers.timeline): what the company told them, when,
on which channel and with what outcome, beside their messages and tracked events."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers import timeline
from cxprism.customers.service import CustomerService
from cxprism.outbound.models import Send
from cxprism.outbound.repository import SendRepository
from cxprism.outbound.schemas import SendOut


class SendsTimeline:
    kind = "send"

    async def newest_first(self, session: AsyncSession, workspace_id: uuid.UUID,
                           customer_id: uuid.UUID, bound: timeline.Bound | None,
                           limit: int) -> list[timeline.Entry]:
        customers = CustomerService(session, workspace_id)
        ids = [customer_id, *await customers.merged_from(customer_id)]
        conditions: list[ColumnElement[bool]] = [Send.customer_id.in_(ids)]
        if bound is not None:
            conditions.append(timeline.within(bound, Send.created_at, Send.id, uuid.UUID))
        found = await SendRepository(session, workspace_id).newest(*conditions, limit=limit)
        return [timeline.Entry(s.created_at, self.kind, str(s.id), {
            "kind": self.kind, "at": s.created_at,
            "send": SendOut.model_validate(s).model_dump(mode="json")}) for s in found]


timeline.register(SendsTimeline())
