"""What a returning visitor sees when the widget opens: their recent chat, oldest first."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.models import Channel
from cxprism.conversations.models import Message
from cxprism.conversations.repository import ConversationRepository

HISTORY = 50
MAX_MERGE_HOPS = 20


async def visitor_history(session: AsyncSession, channel: Channel,
                          visitor_id: str) -> list[dict[str, Any]]:
    conversations = ConversationRepository(session, channel.workspace_id)
    conversation = await conversations.latest_in_thread(channel.id, f"webchat:{visitor_id}")
    for _ in range(MAX_MERGE_HOPS):  # merged into another conversation: show that one
        if conversation is None or conversation.merged_into_id is None:
            break
        conversation = await conversations.get(conversation.merged_into_id)
    if conversation is None:
        return []
    stmt = select(Message).where(
        Message.workspace_id == channel.workspace_id, Message.conversation_id == conversation.id,
        Message.kind != "note").order_by(Message.created_at.desc(), Message.id.desc())
    rows = list((await session.execute(stmt.limit(HISTORY))).scalars())
    return [{"id": m.external_id if m.direction == "outbound" else str(m.id),
             "direction": m.direction, "sender_type": m.sender_type, "text": m.text,
             "created_at": m.created_at.isoformat()} for m in reversed(rows)]
