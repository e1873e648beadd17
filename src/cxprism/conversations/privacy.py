"""Conversations are personal data: in a customer's export, and gone with their erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.conversations import repository as repo
from cxprism.conversations.schemas import ConversationOut, MessageOut
from cxprism.customers import holders
from cxprism.customers.bulk import BulkReads
from cxprism.customers.identities import Identity
from cxprism.scheduler.service import enqueue

FORGET_ATTACHMENTS = "conversations.forget_attachments"


class Conversations:
    name = "conversations"

    async def export(self, session: AsyncSession, workspace_id: uuid.UUID,
                     identities: Sequence[Identity]) -> Any:
        ids = await BulkReads(session, workspace_id).profile_ids(identities)
        if not ids:
            return []
        found, messages = await repo.customers_conversations(session, workspace_id, ids)
        by_conversation: dict[uuid.UUID, list[Any]] = {}
        for message in messages:
            by_conversation.setdefault(message.conversation_id, []).append(
                MessageOut.of(message).model_dump(mode="json"))
        return [{**ConversationOut.model_validate(c).model_dump(mode="json"),
                 "messages": by_conversation.get(c.id, [])} for c in found]

    async def erase(self, session: AsyncSession, workspace_id: uuid.UUID,
                    identities: Sequence[Identity]) -> None:
        ids = await BulkReads(session, workspace_id).profile_ids(identities)
        if not ids:
            return
        keys = await repo.delete_customers_conversations(session, workspace_id, ids)
        if keys:  # the files go once this erasure has committed (a job, in its transaction)
            await enqueue(session, FORGET_ATTACHMENTS, {"keys": keys},
                          workspace_id=workspace_id)


holders.register(Conversations())
