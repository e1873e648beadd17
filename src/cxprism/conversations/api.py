"""The inbox API: list and filter, read, reply, note, assign, tag, merge, bulk changes."""

from __future__ import annotations

import uuid
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.conversations import schemas
from cxprism.conversations.replies import ReplyService
from cxprism.conversations.repository import InboxFilter
from cxprism.conversations.service import ConversationService
from cxprism.kit.errors import NotFound
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import clamp_limit
from cxprism.kit.validation import query_text
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(route_class=TransactionalRoute, tags=["conversations"])

Session = Depends(db_session)
Read = Depends(require(Permission.CONVERSATIONS_READ))
Write = Depends(require(Permission.CONVERSATIONS_WRITE))
# Types a browser could run or render inline are served as plain downloads.
_INLINE_SAFE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf",
                          "audio/mpeg", "audio/ogg", "video/mp4", "text/plain"})


def _service(session: AsyncSession, principal: Principal) -> ConversationService:
    return ConversationService(session, principal.workspace_id, principal.user_id)


@router.get("/conversations", response_model=schemas.ConversationPage)
async def list_conversations(  # noqa: PLR0917 - FastAPI query parameters
        status: Literal["open", "pending", "snoozed", "resolved"] | None = None,
        channel_id: uuid.UUID | None = None, channel_kind: str | None = Query(None, max_length=40),
        assignee_id: uuid.UUID | None = None, unassigned: bool = False,
        team_id: uuid.UUID | None = None, tag: str | None = Query(None, max_length=64),
        customer_id: uuid.UUID | None = None, cursor: str | None = None,
        limit: int | None = None, session: AsyncSession = Session,
        principal: Principal = Read) -> object:
    """The inbox, most recent activity first."""
    query = InboxFilter(status, channel_id, query_text("channel_kind", channel_kind),
                        assignee_id, unassigned, team_id, query_text("tag", tag), customer_id)
    found, next_cursor = await _service(session, principal).inbox(query, cursor,
                                                                  clamp_limit(limit))
    return {"data": found, "next_cursor": next_cursor}


@router.get("/conversations/{conversation_id}", response_model=schemas.ConversationOut)
async def get_conversation(conversation_id: uuid.UUID, session: AsyncSession = Session,
                           principal: Principal = Read) -> object:
    return await _service(session, principal).get(conversation_id)


@router.patch("/conversations/{conversation_id}", response_model=schemas.ConversationOut)
async def update_conversation(conversation_id: uuid.UUID, data: schemas.ConversationUpdate,
                              session: AsyncSession = Session,
                              principal: Principal = Write) -> object:
    """Status (open, pending, snoozed with snoozed_until, resolved), assignment, tags."""
    return await _service(session, principal).update(conversation_id, data)


@router.get("/conversations/{conversation_id}/messages", response_model=schemas.MessagePage)
async def list_messages(conversation_id: uuid.UUID, cursor: str | None = None,
                        limit: int | None = None, session: AsyncSession = Session,
                        principal: Principal = Read) -> object:
    """The conversation's messages and notes, oldest first."""
    found, next_cursor = await _service(session, principal).messages_of(
        conversation_id, cursor, clamp_limit(limit))
    return {"data": [schemas.MessageOut.of(m) for m in found], "next_cursor": next_cursor}


@router.post("/conversations/{conversation_id}/replies", response_model=schemas.MessageOut,
             status_code=202)
async def reply(conversation_id: uuid.UUID, data: schemas.ReplyCreate,
                session: AsyncSession = Session, principal: Principal = Write) -> object:
    """Queue a reply; it is sent after this request commits (watch its ``status``)."""
    service = ReplyService(session, principal.workspace_id, principal.user_id)
    return schemas.MessageOut.of(await service.reply(conversation_id, data))


@router.post("/conversations/{conversation_id}/notes", response_model=schemas.MessageOut,
             status_code=201)
async def add_note(conversation_id: uuid.UUID, data: schemas.NoteCreate,
                   session: AsyncSession = Session, principal: Principal = Write) -> object:
    """An internal note: seen by agents, never sent to the customer."""
    return schemas.MessageOut.of(await _service(session, principal).add_note(conversation_id,
                                                                             data))


@router.post("/conversations/{conversation_id}/merge", response_model=schemas.ConversationOut)
async def merge_conversations(conversation_id: uuid.UUID, data: schemas.MergeRequest,
                              session: AsyncSession = Session,
                              principal: Principal = Write) -> object:
    return await _service(session, principal).merge(conversation_id, data.source_id)


@router.post("/conversations/bulk", response_model=schemas.BulkResult)
async def bulk_update(data: schemas.BulkAction, session: AsyncSession = Session,
                      principal: Principal = Write) -> object:
    """One change to up to 100 conversations, all or none."""
    return {"updated": await _service(session, principal).bulk(data)}


@router.get("/conversations/{conversation_id}/messages/{message_id}/attachments/{attachment_id}")
async def download_attachment(  # noqa: PLR0917 - FastAPI path parameters
        conversation_id: uuid.UUID, message_id: uuid.UUID,
                              attachment_id: str, request: Request,
                              session: AsyncSession = Session,
                              principal: Principal = Read) -> Response:
    message = await _service(session, principal).message(conversation_id, message_id)
    entry = next((a for a in message.attachments if a.get("id") == attachment_id), None)
    if entry is None or "key" not in entry:
        raise NotFound("Attachment not found.")
    try:
        data = await request.app.state.storage.get(principal.workspace_id, entry["key"])
    except (FileNotFoundError, KeyError):
        raise NotFound("The attachment's file is gone (erased).") from None
    content_type = entry["content_type"] if entry["content_type"] in _INLINE_SAFE else (
        "application/octet-stream")
    return Response(data, media_type=content_type, headers={
        "Content-Disposition": _disposition(entry["filename"]),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


def _disposition(filename: str) -> str:
    """An ASCII fallback name and the exact UTF-8 one (RFC 6266); no header can be forged."""
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_"
                       for c in filename) or "attachment"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
