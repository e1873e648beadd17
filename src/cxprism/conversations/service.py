"""The inbox: reading conversations, and what agents do with them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.conversations import schemas
from cxprism.conversations.content import clean_text, text_as_html
from cxprism.conversations.cursor import decode_inbox_cursor, encode_inbox_cursor
from cxprism.conversations.models import Conversation, Message
from cxprism.conversations.repository import (
    ConversationRepository,
    InboxFilter,
    MessageRepository,
)
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, NotFound, Unprocessable
from cxprism.kit.ids import uuid7
from cxprism.kit.pagination import decode_cursor, encode_cursor
from cxprism.workspaces.service import WorkspaceService


class ConversationService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor_id: uuid.UUID | None = None) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.actor_id = actor_id
        self.conversations = ConversationRepository(session, workspace_id)
        self.messages = MessageRepository(session, workspace_id)

    # Reading ---------------------------------------------------------------------------

    async def get(self, conversation_id: uuid.UUID) -> Conversation:
        conversation = await self.conversations.get(conversation_id)
        if conversation is None:
            raise NotFound("Conversation not found.",
                           details={"conversation_id": str(conversation_id)})
        return conversation

    async def live(self, conversation_id: uuid.UUID) -> Conversation:
        """The conversation, refusing one merged away (act on the one it went into)."""
        conversation = await self.get(conversation_id)
        if conversation.merged_into_id is not None:
            raise Conflict("This conversation was merged into another.", code="merged",
                           details={"merged_into_id": str(conversation.merged_into_id)})
        return conversation

    async def inbox(self, query: InboxFilter, cursor: str | None,
                    limit: int) -> tuple[Sequence[Conversation], str | None]:
        if query.customer_id is not None:
            query = await self._with_merged_profiles(query, query.customer_id)
        rows = await self.conversations.inbox(query, decode_inbox_cursor(cursor), limit)
        if len(rows) <= limit:
            return rows, None
        last = rows[limit - 1]
        return rows[:limit], encode_inbox_cursor(last.last_message_at, last.id)

    async def _with_merged_profiles(self, query: InboxFilter,
                                    customer_id: uuid.UUID) -> InboxFilter:
        """A customer's conversations under every profile id merged into theirs (404 if
        the customer is unknown here, as everywhere)."""
        customers = CustomerService(self.session, self.workspace_id)
        root = await customers.root(customer_id)
        ids = (root.id, *await customers.merged_from(root.id))
        return replace(query, customer_id=None, customer_ids=ids)

    async def messages_of(self, conversation_id: uuid.UUID, cursor: str | None,
                          limit: int) -> tuple[Sequence[Message], str | None]:
        await self.get(conversation_id)
        rows, last = await self.messages.of_conversation(conversation_id, decode_cursor(cursor),
                                                         limit)
        return rows, encode_cursor(last) if last else None

    async def message(self, conversation_id: uuid.UUID, message_id: uuid.UUID) -> Message:
        message = await self.messages.get(message_id)
        if message is None or message.conversation_id != conversation_id:
            raise NotFound("Message not found.", details={"message_id": str(message_id)})
        return message

    async def contents_of(self, message_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        """What each message says, as plain data (the ledger commits to it): subject, text,
        sanitised HTML and attachments (content-addressed keys commit to their bytes)."""
        return {message_id: {"subject": subject, "text": text, "html": html,
                             "attachments": [{k: a.get(k) for k in ("filename", "content_type",
                                                                     "size", "key", "url")}
                                             for a in attachments]}
                for message_id, subject, text, html, attachments
                in await self.messages.contents(message_ids)}

    # Acting ----------------------------------------------------------------------------

    async def add_note(self, conversation_id: uuid.UUID, data: schemas.NoteCreate) -> Message:
        conversation = await self.live(conversation_id)
        now = utcnow()
        text = clean_text(data.text)
        note = Message(id=uuid7(), conversation_id=conversation.id,
                       customer_id=conversation.customer_id, channel_id=None,
                       direction="internal", sender_type="agent", author_id=self.actor_id,
                       kind="note", text=text, html=text_as_html(text), attachments=[],
                       meta={}, status="received", status_history=[], created_at=now)
        self.messages.add(note)
        conversation.updated_at = now
        await self.messages.flush()
        self._event("conversation.note_added", conversation, message_id=str(note.id))
        return note

    async def update(self, conversation_id: uuid.UUID,
                     data: schemas.ConversationUpdate) -> Conversation:
        conversation = await self.live(conversation_id)
        await self._check_people(data)
        changed = await self._apply(conversation, data)
        await self.conversations.flush()
        if changed:
            self._event("conversation.updated", conversation, fields=changed)
        return conversation

    async def bulk(self, action: schemas.BulkAction) -> list[uuid.UUID]:
        """One change to many conversations, all or none (unknown ids answer 404)."""
        ids = sorted(set(action.ids))
        found = {c.id: c for c in await self.conversations.many(ids)}
        missing = [str(i) for i in ids if i not in found]
        if missing:
            raise NotFound("Some conversations were not found.", details={"ids": missing})
        await self._check_people(action.update)
        for conversation_id in ids:
            conversation = found[conversation_id]
            if conversation.merged_into_id is not None:
                raise Conflict("A merged conversation cannot be changed.", code="merged",
                               details={"conversation_id": str(conversation_id)})
            changed = await self._apply(conversation, action.update)
            if changed:
                self._event("conversation.updated", conversation, fields=changed)
        await self.conversations.flush()
        return ids

    async def merge(self, target_id: uuid.UUID, source_id: uuid.UUID) -> Conversation:
        """Move every message of ``source`` into ``target``; ``source`` points at it after."""
        if target_id == source_id:
            raise Unprocessable("A conversation cannot be merged into itself.",
                                details={"field": "source_id"})
        found = {c.id: c for c in await self.conversations.many([target_id, source_id])}
        if target_id not in found or source_id not in found:
            raise NotFound("Conversation not found.")
        target, source = found[target_id], found[source_id]
        for conversation in (target, source):
            if conversation.merged_into_id is not None:
                raise Conflict("A merged conversation cannot be merged again.", code="merged",
                               details={"conversation_id": str(conversation.id)})
        moved = await self.conversations.move_messages(source.id, target.id)
        target.message_count += moved
        target.last_message_at = max(target.last_message_at, source.last_message_at)
        target.last_inbound_at = _latest(target.last_inbound_at, source.last_inbound_at)
        await self.conversations.set_tags(target, [*target.tags, *source.tags])
        source.merged_into_id, source.status, source.message_count = target.id, "resolved", 0
        source.resolved_at = utcnow()
        await self.conversations.flush()
        self._event("conversation.merged", target, source_id=str(source.id), moved=moved)
        return target

    async def _apply(self, conversation: Conversation,
                     data: schemas.ConversationUpdate) -> list[str]:
        changed: list[str] = []
        if data.status is not None and data.status != conversation.status:
            _set_status(conversation, data.status, data.snoozed_until)
            changed.append("status")
        elif data.snoozed_until is not None:
            _set_status(conversation, "snoozed", data.snoozed_until)
            changed.append("snoozed_until")
        if data.unassign or data.assignee_id is not None:
            new = None if data.unassign else data.assignee_id
            if new != conversation.assignee_id:
                conversation.assignee_id = new
                changed.append("assignee_id")
        if data.team_id is not None and data.team_id != conversation.team_id:
            conversation.team_id = data.team_id
            changed.append("team_id")
        tags = (set(conversation.tags) | set(data.add_tags)) - set(data.remove_tags)
        if tags != set(conversation.tags):
            await self.conversations.set_tags(conversation, sorted(tags))
            changed.append("tags")
        if changed:
            conversation.updated_at = utcnow()
        return changed

    async def _check_people(self, data: schemas.ConversationUpdate) -> None:
        if data.unassign and data.assignee_id is not None:
            raise Unprocessable("Give assignee_id or unassign, not both.",
                                details={"field": "unassign"})
        workspace = WorkspaceService(self.session, self.workspace_id)
        if data.assignee_id is not None:
            await workspace.get_user(data.assignee_id)  # 404 for another workspace's user
        if data.team_id is not None:
            await workspace.get_team(data.team_id)

    def _event(self, type_: str, conversation: Conversation, **extra: Any) -> None:
        events.record(self.session, self.workspace_id, type_, {
            "conversation_id": str(conversation.id), "customer_id": str(conversation.customer_id),
            "status": conversation.status,
            "actor_id": str(self.actor_id) if self.actor_id else None, **extra})


def _set_status(conversation: Conversation, status: str, snoozed_until: datetime | None) -> None:
    if status == "snoozed":
        if snoozed_until is None or snoozed_until <= utcnow():
            raise Unprocessable("Snoozing needs a snoozed_until in the future.",
                                details={"field": "snoozed_until"})
        conversation.snoozed_until = snoozed_until
    else:
        conversation.snoozed_until = None
    conversation.resolved_at = utcnow() if status == "resolved" else None
    conversation.status = status


def _latest(first: datetime | None, second: datetime | None) -> datetime | None:
    present = [at for at in (first, second) if at is not None]
    return max(present) if present else None
