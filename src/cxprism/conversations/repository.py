"""Every query on conversations and messages."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Text, and_, cast, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.conversations.models import Conversation, ConversationTag, Message
from cxprism.kit.db import one_of
from cxprism.kit.repository import WorkspaceRepository

MAX_MERGE_HOPS = 20
ThreadKey = tuple[uuid.UUID, str, uuid.UUID]
"""(channel id, provider thread key, customer id): whose conversation a thread's item joins."""


@dataclass(frozen=True)
class InboxFilter:
    status: str | None = None
    channel_id: uuid.UUID | None = None
    channel_kind: str | None = None
    assignee_id: uuid.UUID | None = None
    unassigned: bool = False
    team_id: uuid.UUID | None = None
    tag: str | None = None
    customer_id: uuid.UUID | None = None
    customer_ids: tuple[uuid.UUID, ...] = ()


class ConversationRepository(WorkspaceRepository[Conversation]):
    model = Conversation

    async def by_reply_token(self, token: str) -> Conversation | None:
        return await self.one_or_none(Conversation.reply_token == token)

    async def latest_in_thread(self, channel_id: uuid.UUID, thread_key: str,
                               customer_id: uuid.UUID | None = None) -> Conversation | None:
        """The customer's latest conversation on this provider thread (a social post's
        commenters each get their own; ``customer_id=None``: anyone's). It may have been
        merged away: the caller follows ``merged_into_id``."""
        stmt = self.select().where(Conversation.channel_id == channel_id,
                                   Conversation.thread_key == thread_key)
        if customer_id is not None:
            stmt = stmt.where(Conversation.customer_id == customer_id)
        stmt = stmt.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        result = await self.session.execute(stmt.limit(1))
        found: Conversation | None = result.scalar_one_or_none()
        return found

    async def latest_in_threads(self, keys: Sequence[ThreadKey]
                                ) -> dict[ThreadKey, Conversation]:
        """:meth:`latest_in_thread` for many (channel, thread key, customer) at once: one
        query (the conversations of those channels, threads and customers, newest first),
        the latest of each that has any."""
        if not keys:
            return {}
        stmt = self.select().where(
            one_of(self.dialect, Conversation.channel_id, sorted({k[0] for k in keys})),
            one_of(self.dialect, Conversation.thread_key, sorted({k[1] for k in keys})),
            one_of(self.dialect, Conversation.customer_id, sorted({k[2] for k in keys})),
        ).order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        wanted, latest = set(keys), dict[ThreadKey, Conversation]()
        for row in (await self.session.execute(stmt)).scalars():
            key = (row.channel_id, row.thread_key or "", row.customer_id)
            if key in wanted:
                latest.setdefault(key, row)
        return latest

    async def live_of(self, conversation: Conversation | None) -> Conversation | None:
        """The conversation itself, or the one it was merged into (merge chains are short:
        a merged conversation cannot be merged again)."""
        for _ in range(MAX_MERGE_HOPS):
            if conversation is None or conversation.merged_into_id is None:
                break
            conversation = await self.get(conversation.merged_into_id)
        return conversation

    async def many(self, ids: Sequence[uuid.UUID]) -> Sequence[Conversation]:
        stmt = self.select().where(Conversation.id.in_(ids)).order_by(Conversation.id)
        rows: Sequence[Conversation] = (await self.session.execute(
            stmt.with_for_update())).scalars().all()
        return rows

    async def last_inbound_at(self, customer_id: uuid.UUID,
                              channel_id: uuid.UUID) -> datetime | None:
        stmt = select(func.max(Conversation.last_inbound_at)).where(
            Conversation.workspace_id == self.workspace_id,
            Conversation.customer_id == customer_id, Conversation.channel_id == channel_id)
        found: datetime | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def inbox(self, query: InboxFilter, after: tuple[datetime, uuid.UUID] | None,
                    limit: int) -> Sequence[Conversation]:
        stmt = self.select().where(Conversation.merged_into_id.is_(None), *_conditions(query))
        if after is not None:
            at, last_id = after
            stmt = stmt.where(or_(Conversation.last_message_at < at,
                                  and_(Conversation.last_message_at == at,
                                       Conversation.id < last_id)))
        stmt = stmt.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())
        rows: Sequence[Conversation] = (await self.session.execute(
            stmt.limit(limit + 1))).scalars().all()
        return rows

    async def move_messages(self, source_id: uuid.UUID, target_id: uuid.UUID) -> int:
        stmt = update(Message).where(Message.workspace_id == self.workspace_id,
                                     Message.conversation_id == source_id)
        result = await self.session.execute(stmt.values(conversation_id=target_id))
        return int(result.rowcount)  # type: ignore[attr-defined]


    async def set_tags(self, conversation: Conversation, tags: Sequence[str]) -> None:
        """Replace the conversation's tags (the row set and the ``tags`` list together)."""
        await self.session.execute(delete(ConversationTag).where(
            ConversationTag.workspace_id == self.workspace_id,
            ConversationTag.conversation_id == conversation.id))
        for tag in sorted(set(tags)):
            self.session.add(ConversationTag(workspace_id=self.workspace_id,
                                             conversation_id=conversation.id, tag=tag))
        conversation.tags = sorted(set(tags))


def _conditions(query: InboxFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.status is not None:
        conditions.append(Conversation.status == query.status)
    if query.channel_id is not None:
        conditions.append(Conversation.channel_id == query.channel_id)
    if query.channel_kind is not None:
        conditions.append(Conversation.channel_kind == query.channel_kind)
    if query.assignee_id is not None:
        conditions.append(Conversation.assignee_id == query.assignee_id)
    if query.unassigned:
        conditions.append(Conversation.assignee_id.is_(None))
    if query.team_id is not None:
        conditions.append(Conversation.team_id == query.team_id)
    if query.customer_id is not None:
        conditions.append(Conversation.customer_id == query.customer_id)
    if query.customer_ids:
        conditions.append(Conversation.customer_id.in_(query.customer_ids))
    if query.tag is not None:
        conditions.append(Conversation.id.in_(
            select(ConversationTag.conversation_id).where(
                ConversationTag.workspace_id == Conversation.workspace_id,
                ConversationTag.tag == query.tag)))
    return conditions


class MessageRepository(WorkspaceRepository[Message]):
    model = Message

    async def by_external_id(self, channel_id: uuid.UUID, external_id: str) -> Message | None:
        return await self.one_or_none(Message.channel_id == channel_id,
                                      Message.external_id == external_id)

    async def existing_external_ids(self, channel_id: uuid.UUID,
                                    external_ids: Sequence[str]) -> set[str]:
        if not external_ids:
            return set()
        stmt = select(Message.external_id).where(
            Message.workspace_id == self.workspace_id, Message.channel_id == channel_id,
            one_of(self.dialect, Message.external_id, sorted({e[:255] for e in external_ids})))
        return {row for row in (await self.session.execute(stmt)).scalars() if row}

    async def first_with_external_id(self, channel_id: uuid.UUID,
                                     external_ids: Sequence[str]) -> Message | None:
        if not external_ids:
            return None
        stmt = self.select().where(Message.channel_id == channel_id,
                                   Message.external_id.in_(list(external_ids)))
        rows = (await self.session.execute(stmt)).scalars().all()
        order = {external_id: n for n, external_id in enumerate(external_ids)}
        return min(rows, key=lambda m: order[m.external_id or ""], default=None)

    async def contents(self, ids: Sequence[uuid.UUID]) -> list[Any]:
        """(id, subject, text, html, attachments) of these messages: columns, not objects,
        for callers that read thousands at a time (the ledger)."""
        if not ids:
            return []
        rows = await self.session.execute(
            select(Message.id, Message.subject, Message.text, Message.html, Message.attachments)
            .where(Message.workspace_id == self.workspace_id,
                   one_of(self.dialect, Message.id, ids)))
        return list(rows.all())

    async def of_conversation(self, conversation_id: uuid.UUID, after: uuid.UUID | None,
                              limit: int) -> tuple[Sequence[Message], uuid.UUID | None]:
        return await self.page(Message.conversation_id == conversation_id, after=after,
                               limit=limit)

    async def thread_ids(self, conversation_id: uuid.UUID, channel_id: uuid.UUID,
                         limit: int = 20) -> list[str]:
        """The newest provider ids of this conversation on this channel, oldest first."""
        stmt = select(Message.external_id).where(
            Message.workspace_id == self.workspace_id, Message.conversation_id == conversation_id,
            Message.channel_id == channel_id, Message.external_id.is_not(None),
            Message.kind != "note")
        stmt = stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
        found = [row for row in (await self.session.execute(stmt)).scalars() if row]
        return list(reversed(found))

    async def newest(self, *conditions: ColumnElement[bool], limit: int) -> Sequence[Message]:
        """Messages (never internal notes) newest first, by time then id."""
        stmt = self.select().where(Message.kind != "note", *conditions)
        stmt = stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(limit)
        rows: Sequence[Message] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def last_inbound(self, conversation_id: uuid.UUID) -> Message | None:
        stmt = self.select().where(Message.conversation_id == conversation_id,
                                   Message.direction == "inbound")
        stmt = stmt.order_by(Message.created_at.desc(), Message.id.desc()).limit(1)
        found: Message | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found


async def reassign_customer(session: AsyncSession, workspace_id: uuid.UUID,
                            loser_id: uuid.UUID, winner_id: uuid.UUID) -> None:
    for table in (Conversation, Message):
        await session.execute(update(table).where(
            table.workspace_id == workspace_id, table.customer_id == loser_id)
            .values(customer_id=winner_id))


async def attachment_in_use(session: AsyncSession, workspace_id: uuid.UUID, key: str) -> bool:
    """Whether any message of the workspace still names this stored file (keys are
    SHA-256 digests: matching their text in the attachments JSON is exact enough)."""
    stmt = select(Message.id).where(Message.workspace_id == workspace_id,
                                    cast(Message.attachments, Text).contains(key))
    return (await session.execute(stmt.limit(1))).first() is not None


async def customers_conversations(session: AsyncSession, workspace_id: uuid.UUID,
                                  customer_ids: Sequence[uuid.UUID]
                                  ) -> tuple[Sequence[Conversation], Sequence[Message]]:
    """Everything these profiles said and were told (notes excepted), oldest first."""
    conversations = (await session.execute(select(Conversation).where(
        Conversation.workspace_id == workspace_id, Conversation.customer_id.in_(customer_ids))
        .order_by(Conversation.created_at))).scalars().all()
    messages = (await session.execute(select(Message).where(
        Message.workspace_id == workspace_id, Message.customer_id.in_(customer_ids),
        Message.kind != "note").order_by(Message.created_at))).scalars().all()
    return conversations, messages


async def delete_customers_conversations(session: AsyncSession, workspace_id: uuid.UUID,
                                         customer_ids: Sequence[uuid.UUID]) -> list[str]:
    """Delete these profiles' conversations and every message in them; the storage keys
    of the attachments those messages named."""
    conversation_ids = select(Conversation.id).where(
        Conversation.workspace_id == workspace_id, Conversation.customer_id.in_(customer_ids))
    theirs = (Message.workspace_id == workspace_id) & (
        Message.conversation_id.in_(conversation_ids) | Message.customer_id.in_(customer_ids))
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
        Conversation.workspace_id == workspace_id, Conversation.customer_id.in_(customer_ids)))
    return keys
