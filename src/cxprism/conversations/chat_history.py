"""What a returning visitor sees when the widget opens: their recent chat, oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.models import Channel
from cxprism.conversations.models import Message
from cxprism.conversations.repository import ConversationRepository, MessageRepository

HISTORY = 50


async def visitor_history(session: AsyncSession, channel: Channel,
                          visitor_id: str) -> list[dict[str, Any]]:
    conversations = ConversationRepository(session, channel.workspace_id)
    conversation = await conversations.live_of(
        await conversations.latest_in_thread(channel.id, f"webchat:{visitor_id}"))
    if conversation is None:
        return []
    rows = await MessageRepository(session, channel.workspace_id).newest(
        Message.conversation_id == conversation.id, limit=HISTORY)
    return [{"id": m.external_id if m.direction == "outbound" else str(m.id),
             "direction": m.direction, "sender_type": m.sender_type, "text": m.text,
             "created_at": m.created_at.isoformat()} for m in reversed(rows)]
