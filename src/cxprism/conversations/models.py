"""Conversations and their messages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.clock import utcnow
from cxprism.kit.models import Base, IdMixin, TimestampMixin, WorkspaceScopedMixin


class Conversation(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    """One customer thread on one channel.

    ``thread_key`` groups provider threads without reply chains (an SMS number pair, a
    social post); ``reply_token`` goes into the plus-address of the emails we send, so a
    reply finds its conversation even when a mail client drops the threading headers.
    ``last_inbound_at`` drives WhatsApp's 24-hour customer-service window.
    """

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_inbox", "workspace_id", "status", "last_message_at"),
        Index("ix_conversations_thread", "workspace_id", "channel_id", "thread_key"),
        UniqueConstraint("reply_token"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    channel_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("channels.id"))
    channel_kind: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str | None] = mapped_column(String(998))
    status: Mapped[str] = mapped_column(String(16), default="open")
    snoozed_until: Mapped[datetime | None]
    assignee_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    team_id: Mapped[uuid.UUID | None]
    tags: Mapped[list[Any]] = mapped_column(default=list)
    thread_key: Mapped[str | None] = mapped_column(String(320))
    reply_token: Mapped[str] = mapped_column(String(64))
    message_count: Mapped[int] = mapped_column(default=0)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_inbound_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("conversations.id"))


class Message(IdMixin, WorkspaceScopedMixin, Base):
    """An item in a conversation: a customer's message, an agent's reply, a note, a call.

    ``external_id`` is the provider's id (Message-ID, MessageSid, wamid, network id): the
    deduplication key on inbound, the key status callbacks find an outbound message by.
    ``html`` is stored sanitised; ``text`` is plain text, to be shown as text.
    """

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("workspace_id", "channel_id", "external_id"),
        Index("ix_messages_conversation", "workspace_id", "conversation_id", "created_at"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"))
    customer_id: Mapped[uuid.UUID] = mapped_column(index=True)
    channel_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("channels.id"))
    direction: Mapped[str] = mapped_column(String(8))
    sender_type: Mapped[str] = mapped_column(String(8))  # customer, agent, bot, system
    author_id: Mapped[uuid.UUID | None]  # the agent (user) who wrote it
    kind: Mapped[str] = mapped_column(String(16), default="message")
    external_id: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(998))
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    attachments: Mapped[list[Any]] = mapped_column(default=list)
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16))
    status_reason: Mapped[str | None] = mapped_column(String(500))
    status_history: Mapped[list[Any]] = mapped_column(default=list)
    recipient: Mapped[str | None] = mapped_column(String(320))  # outbound: the address used
    sent_at: Mapped[datetime | None]  # when the customer or the provider sent it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConversationTag(WorkspaceScopedMixin, Base):
    """One tag on one conversation: the inbox filters on these rows (``tags`` shows them)."""

    __tablename__ = "conversation_tags"
    __table_args__ = (Index("ix_conversation_tags_tag", "workspace_id", "tag"),)

    conversation_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("conversations.id"),
                                                       primary_key=True)
    tag: Mapped[str] = mapped_column(String(64), primary_key=True)
