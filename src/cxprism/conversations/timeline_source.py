"""Conversation messages on the customer timeline (customers.timeline); notes stay in
the inbox."""

from __future__ import annotations

import uuid

from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.conversations.models import Message
from cxprism.conversations.repository import MessageRepository
from cxprism.conversations.schemas import MessageOut
from cxprism.customers import timeline
from cxprism.customers.service import CustomerService


class MessagesTimeline:
    kind = "message"

    async def newest_first(self, session: AsyncSession, workspace_id: uuid.UUID,
                           customer_id: uuid.UUID, bound: timeline.Bound | None,
                           limit: int) -> list[timeline.Entry]:
        customers = CustomerService(session, workspace_id)
        ids = [customer_id, *await customers.merged_from(customer_id)]
        conditions: list[ColumnElement[bool]] = [Message.customer_id.in_(ids)]
        if bound is not None:
            conditions.append(timeline.within(bound, Message.created_at, Message.id, uuid.UUID))
        found = await MessageRepository(session, workspace_id).newest(*conditions, limit=limit)
        return [timeline.Entry(m.created_at, self.kind, str(m.id), {
            "kind": self.kind, "at": m.created_at,
            "message": MessageOut.of(m).model_dump(mode="json")}) for m in found]


timeline.register(MessagesTimeline())
