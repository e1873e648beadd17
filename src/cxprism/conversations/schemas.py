"""Conversation and message requests and responses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Status = Literal["open", "pending", "snoozed", "resolved"]
TagText = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True,
                                           pattern=r"^[^\x00-\x1f\x7f]+$")]


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=16)
    parameters: list[str] = Field(default_factory=list, max_length=20)


class ReplyCreate(BaseModel):
    """An agent's answer. Sent on the conversation's channel unless ``channel_id`` names
    another channel the customer can be reached on."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(default="", max_length=100_000)
    html: str | None = Field(default=None, max_length=500_000)
    channel_id: uuid.UUID | None = None
    template: TemplateIn | None = None
    status: Status | None = Field(default=None, description="set after the reply, e.g. resolved")


class NoteCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=100_000)


class ConversationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Status | None = None
    snoozed_until: datetime | None = None
    assignee_id: uuid.UUID | None = None
    team_id: uuid.UUID | None = None
    unassign: bool = False
    add_tags: list[TagText] = Field(default_factory=list, max_length=50)
    remove_tags: list[TagText] = Field(default_factory=list, max_length=50)


class BulkAction(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    update: ConversationUpdate


class MergeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: uuid.UUID = Field(description="merged into the conversation in the path")


class AttachmentOut(BaseModel):
    id: str
    filename: str
    content_type: str
    size: int
    url: str | None = None


class MessageOut(BaseModel):
    id: uuid.UUID
    conversation_id: uuid.UUID
    customer_id: uuid.UUID
    channel_id: uuid.UUID | None
    direction: str
    sender_type: str
    author_id: uuid.UUID | None
    kind: str
    external_id: str | None
    subject: str | None
    text: str = Field(description="plain text: show it as text, never as markup")
    html: str | None = Field(description="sanitised HTML, safe to render")
    attachments: list[AttachmentOut]
    metadata: dict[str, Any]
    status: str
    status_reason: str | None
    status_history: list[dict[str, Any]]
    recipient: str | None
    sent_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, m: Any) -> MessageOut:
        return cls(
            id=m.id, conversation_id=m.conversation_id, customer_id=m.customer_id,
            channel_id=m.channel_id, direction=m.direction, sender_type=m.sender_type,
            author_id=m.author_id, kind=m.kind, external_id=m.external_id, subject=m.subject,
            text=m.text, html=m.html,
            attachments=[AttachmentOut(**{k: a.get(k) for k in AttachmentOut.model_fields})
                         for a in m.attachments],
            metadata=m.meta, status=m.status, status_reason=m.status_reason,
            status_history=m.status_history, recipient=m.recipient, sent_at=m.sent_at,
            created_at=m.created_at)


class ConversationOut(BaseModel):
    id: uuid.UUID
    customer_id: uuid.UUID
    channel_id: uuid.UUID
    channel_kind: str
    subject: str | None
    status: str
    snoozed_until: datetime | None
    assignee_id: uuid.UUID | None
    team_id: uuid.UUID | None
    tags: list[str]
    message_count: int
    last_message_at: datetime
    last_inbound_at: datetime | None
    resolved_at: datetime | None
    merged_into_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(from_attributes=True)


class ConversationPage(BaseModel):
    data: list[ConversationOut]
    next_cursor: str | None


class MessagePage(BaseModel):
    data: list[MessageOut]
    next_cursor: str | None


class BulkResult(BaseModel):
    updated: list[uuid.UUID]
