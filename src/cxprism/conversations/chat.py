"""Web chat for visitors: a session, a WebSocket, and the widget script.

``POST /chat/{channel_id}/sessions`` gives a visitor a signed token (kept by the widget
in the browser) naming their visitor id; ``/chat/{channel_id}/ws?token=`` is their live
line. Both accept only the origins the channel allows. A visitor's ``anonymousId`` from
the tracking SDK joins them to their behaviour trail; an email they leave lets replies
follow them by mail after they close the page.
"""

from __future__ import annotations

import base64
import logging
import time
import uuid
from collections import deque
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
from fastapi import APIRouter, Request, Response, WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.exc import IntegrityError

from cxprism.channels.cache import channel_cache_of
from cxprism.channels.protocol import Address, InboundMessage, PayloadInvalid, config_as
from cxprism.channels.service import OpenChannel
from cxprism.channels.webchat.connector import VISITOR, WEBCHAT_EMAIL, WebchatConfig, hub_key
from cxprism.channels.webchat.hub import hub
from cxprism.config import get_settings
from cxprism.conversations.chat_history import visitor_history
from cxprism.conversations.inbound import InboundService
from cxprism.customers.identities import InvalidIdentity, normalise_email
from cxprism.kit import crypto, signing
from cxprism.kit.db import Database
from cxprism.kit.errors import AppError, Forbidden, NotFound, Unprocessable

log = logging.getLogger("cxprism.webchat")
router = APIRouter(tags=["web chat"], include_in_schema=False)
WIDGET = Path(__file__).resolve().parents[1] / "web" / "static" / "chat-widget.js"
TOKEN_AGE = 90 * 24 * 3600
MAX_FRAME = 16_384
RATE = (20, 10.0)  # messages per window (seconds) per socket


class SessionStart(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str | None = Field(default=None, max_length=512, description="a returning visitor")
    anonymous_id: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=320)
    name: str | None = Field(default=None, max_length=200)


class ChatFrame(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern="^(message|identify|ping)$")
    client_id: str | None = Field(default=None, min_length=1, max_length=64)
    text: str | None = Field(default=None, max_length=5000)
    email: str | None = Field(default=None, max_length=320)


def _key() -> bytes:
    return crypto.derive_key(get_settings().secret_key.get_secret_value(), "webchat")


@dataclass(frozen=True)
class Visitor:
    """Who the widget's token says the visitor is. Only ``id`` is ours; the anonymous id
    and the contact details are what the page or the visitor told us, unverified."""

    id: str
    anonymous_id: str | None = None
    email: str | None = None
    name: str | None = None


def visitor_token(channel_id: uuid.UUID, visitor: Visitor) -> str:
    card = orjson.dumps({"v": visitor.id, "a": visitor.anonymous_id, "e": visitor.email,
                         "n": visitor.name})
    value = base64.urlsafe_b64encode(card).decode().rstrip("=")
    return signing.sign(_key(), f"webchat:{channel_id}", value)


def visitor_of(channel_id: uuid.UUID, token: str | None) -> Visitor | None:
    value = signing.unsign(_key(), f"webchat:{channel_id}", token,
                           max_age=TOKEN_AGE) if token else None
    if value is None:
        return None
    card = orjson.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    return Visitor(card["v"], card.get("a"), card.get("e"), card.get("n"))


async def _chat_channel(state: object,
                        channel_id: uuid.UUID) -> tuple[OpenChannel, WebchatConfig]:
    opened = await channel_cache_of(state).by_id("webchat", channel_id)
    if opened is None:
        raise NotFound("No active web chat here.")
    return opened, config_as(opened.config, WebchatConfig)


def _cors(origin: str | None, config: WebchatConfig) -> dict[str, str]:
    if origin is None or origin.lower() not in config.allowed_origins:
        raise Forbidden("This site may not embed this chat.", code="origin_not_allowed")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin",
            "Access-Control-Allow-Methods": "POST", "Access-Control-Max-Age": "600",
            "Access-Control-Allow-Headers": "content-type"}


@router.get("/chat/widget.js")
async def widget() -> Response:
    return Response(WIDGET.read_bytes(), media_type="text/javascript",
                    headers={"Cache-Control": "public, max-age=300"})


@router.options("/chat/{channel_id}/sessions")
async def session_preflight(channel_id: uuid.UUID, request: Request) -> Response:
    _, config = await _chat_channel(request.app.state, channel_id)
    return Response(status_code=204, headers=_cors(request.headers.get("origin"), config))


@router.post("/chat/{channel_id}/sessions")
async def start_session(channel_id: uuid.UUID, data: SessionStart, request: Request) -> Response:
    """A token for the widget; nothing is stored until the visitor writes. An email given
    here (or later) is where replies go once they left, never an identity: anyone can
    type anyone's address."""
    _, config = await _chat_channel(request.app.state, channel_id)
    headers = _cors(request.headers.get("origin"), config)
    known = visitor_of(channel_id, data.token)
    visitor = Visitor(known.id if known else f"v_{uuid.uuid4().hex}",
                      data.anonymous_id or (known.anonymous_id if known else None),
                      _checked_email(data.email) or (known.email if known else None),
                      data.name or (known.name if known else None))
    body = {"visitor_id": visitor.id, "token": visitor_token(channel_id, visitor),
            "greeting": config.greeting}
    return Response(orjson.dumps(body), media_type="application/json", headers=headers)


@router.websocket("/chat/{channel_id}/ws")
async def chat_socket(websocket: WebSocket, channel_id: uuid.UUID) -> None:
    db: Database = websocket.app.state.db
    try:
        channel, config = await _chat_channel(websocket.app.state, channel_id)
        _cors(websocket.headers.get("origin"), config)
    except (NotFound, Forbidden):
        await websocket.close(code=4403)  # before accepting: the handshake is refused (403)
        return
    visitor = visitor_of(channel_id, websocket.query_params.get("token"))
    await websocket.accept()
    if visitor is None:
        # Accepted only to say why: the widget starts a new session on 4401.
        await websocket.close(code=4401, reason="the chat token is not valid; start a session")
        return
    line = _Line(websocket, db, channel, visitor)
    hub.connect(hub_key(channel.channel.id, visitor.id), line.push)
    try:
        await line.run()
    except WebSocketDisconnect:
        pass
    finally:
        hub.disconnect(hub_key(channel.channel.id, visitor.id), line.push)


class _Line:
    """One visitor's socket: history first, then their messages in and replies out."""

    def __init__(self, websocket: WebSocket, db: Database, chat: OpenChannel,
                 visitor: Visitor) -> None:
        self.websocket, self.db, self.chat, self.visitor = websocket, db, chat, visitor
        self.channel = chat.channel
        self.visitor_id = visitor.id
        self.recent: deque[float] = deque(maxlen=RATE[0])

    async def push(self, payload: dict[str, Any]) -> None:
        await self.websocket.send_text(orjson.dumps(payload).decode())

    async def run(self) -> None:
        async with self.db.session() as session:
            history = await visitor_history(session, self.channel, self.visitor_id)
        await self.push({"type": "history", "messages": history})
        while True:
            raw = await self.websocket.receive_text()
            reply = await self._handle(raw)
            await self.push(reply)

    async def _handle(self, raw: str) -> dict[str, Any]:
        if len(raw) > MAX_FRAME:
            return _error("frame_too_large", f"frames are at most {MAX_FRAME} characters")
        try:
            frame = ChatFrame.model_validate_json(raw)
        except ValidationError as exc:
            return _error("invalid_frame", exc.errors()[0]["msg"])
        if frame.type == "ping":
            return {"type": "pong"}
        if self._too_fast():
            return _error("rate_limited", "slow down: too many messages", frame.client_id)
        return await self._store_safely(frame)

    async def _store_safely(self, frame: ChatFrame) -> dict[str, Any]:
        """Every failure is an answer on the socket, never the socket's end."""
        try:
            return await self._store(frame)
        except (Unprocessable, PayloadInvalid) as exc:
            return _error("invalid_frame", str(exc), frame.client_id)
        except IntegrityError:  # the same message from two tabs at once: stored once
            return {"type": "ack", "client_id": frame.client_id, "id": None, "duplicate": True}
        except AppError as exc:
            return _error(exc.code, exc.message, frame.client_id)

    async def _store(self, frame: ChatFrame) -> dict[str, Any]:
        async with self.db.session() as session:
            inbound = InboundService(session, self.channel.workspace_id,
                                     self.websocket.app.state.storage)
            # The visitor, and the page's tracking id that joins them to their trail (as
            # trusted as the tracking SDK that set it); contact details only as traits.
            sender = [Address(VISITOR, self.visitor_id)]
            if self.visitor.anonymous_id:
                sender.append(Address("anonymous_id", self.visitor.anonymous_id))
            if frame.type == "identify":
                email = _checked_email(frame.email)
                if email is None:
                    raise Unprocessable("identify needs an email")
                self.visitor = replace(self.visitor, email=email)
            await inbound.identify(sender, traits=_contact_traits(self.visitor))
            if frame.type == "identify":
                await session.commit()
                return {"type": "identified"}
            if not frame.client_id or not (frame.text or "").strip():
                raise Unprocessable("a message needs a client_id and text")
            item = InboundMessage(external_id=f"{self.visitor_id}:{frame.client_id}",
                                  sender=sender, text=frame.text or "",
                                  thread_key=f"webchat:{self.visitor_id}")
            message = await inbound.receive(self.chat, item)
            await session.commit()
        return {"type": "ack", "client_id": frame.client_id,
                "id": str(message.id) if message else None, "duplicate": message is None}

    def _too_fast(self) -> bool:
        now = time.monotonic()
        if len(self.recent) == RATE[0] and now - self.recent[0] < RATE[1]:
            return True
        self.recent.append(now)
        return False


def _checked_email(email: str | None) -> str | None:
    if not email:
        return None
    try:
        return normalise_email(email)
    except InvalidIdentity as exc:
        raise Unprocessable(str(exc), details={"field": "email"}) from None


def _contact_traits(visitor: Visitor) -> dict[str, Any] | None:
    traits = {WEBCHAT_EMAIL: visitor.email, "webchat_name": visitor.name}
    return {k: v for k, v in traits.items() if v} or None


def _error(code: str, message: str, client_id: str | None = None) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, "client_id": client_id}
