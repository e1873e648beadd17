"""Conversations are personal data: in a customer's export, and gone with their erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.conversations.models import Conversation, ConversationTag, Message
from cxprism.conversations.schemas import ConversationOut, MessageOut
from cxprism.customers import holders
from cxprism.customers.identities import Identity
from cxprism.customers.service import CustomerService
from cxprism.scheduler.service import enqueue

FORGET_ATTACHMENTS = "conversations.forget_attachments"


async def _customer_ids(session: AsyncSession, workspace_id: uuid.UUID,
                        identities: Sequence[Identity]) -> list[uuid.UUID]:
    customers = CustomerService(session, workspace_id)
    owners = set((await customers.owners(identities)).values())
    for owner in list(owners):
        owners.update(await customers.merged_from(owner))
    return sorted(owners)


class Conversations:
    name = "conversations"

    async def export(self, session: AsyncSession, workspace_id: uuid.UUID,
                     identities: Sequence[Identity]) -> Any:
        ids = await _customer_ids(session, workspace_id, identities)
        if not ids:
            return []
        found = (await session.execute(select(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.customer_id.in_(ids))
            .order_by(Conversation.created_at))).scalars().all()
        messages = (await session.execute(select(Message).where(
            Message.workspace_id == workspace_id, Message.customer_id.in_(ids),
            Message.kind != "note").order_by(Message.created_at))).scalars().all()
        by_conversation: dict[uuid.UUID, list[Any]] = {}
        for message in messages:
            by_conversation.setdefault(message.conversation_id, []).append(
                MessageOut.of(message).model_dump(mode="json"))
        return [{**ConversationOut.model_validate(c).model_dump(mode="json"),
                 "messages": by_conversation.get(c.id, [])} for c in found]

    async def erase(self, session: AsyncSession, workspace_id: uuid.UUID,
                    identities: Sequence[Identity]) -> None:
        ids = await _customer_ids(session, workspace_id, identities)
        if not ids:
            return
        conversation_ids = select(Conversation.id).where(
            Conversation.workspace_id == workspace_id, Conversation.customer_id.in_(ids))
        theirs = (Message.workspace_id == workspace_id) & (
            Message.conversation_id.in_(conversation_ids) | Message.customer_id.in_(ids))
        keys = sorted({a["key"] for attachments in (await session.execute(
            select(Message.attachments).where(theirs))).scalars()
            for a in attachments if a.get("key")})
        await session.execute(delete(Message).where(theirs))
        await session.execute(delete(ConversationTag).where(
            ConversationTag.workspace_id == workspace_id,
            ConversationTag.conversation_id.in_(conversation_ids)))
        # Conversations merged into theirs (or theirs into each other) let go first.
        await session.execute(update(Conversation).where(
            Conversation.workspace_id == workspace_id,
            Conversation.merged_into_id.in_(conversation_ids)).values(merged_into_id=None))
        await session.execute(delete(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.customer_id.in_(ids)))
        if keys:  # the files go once this erasure has committed (a job, in its transaction)
            await enqueue(session, FORGET_ATTACHMENTS, {"keys": keys},
                          workspace_id=workspace_id)


holders.register(Conversations())
