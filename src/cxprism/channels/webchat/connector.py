"""Web chat as a connector: replies are pushed to the visitor's open sockets."""

from __future__ import annotations

import re
import uuid
from typing import ClassVar
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, field_validator

from cxprism.channels.protocol import (
    Address,
    OutboundMessage,
    SendError,
    SendResult,
    config_as,
    first_address,
)
from cxprism.channels.webchat.hub import ChatHub, hub

VISITOR = "webchat_visitor_id"
WEBCHAT_EMAIL = "webchat_email"  # the trait a visitor's (unverified) email is kept in


def hub_key(channel_id: uuid.UUID | str, visitor_id: str) -> str:
    """Sockets are found per channel: a visitor id names a visitor of one chat only."""
    return f"{channel_id}:{visitor_id}"
_HOST = re.compile(r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9-]{1,63})*$")


class WebchatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(description="the website's host name, e.g. www.acme.example")
    allowed_origins: list[str] = Field(min_length=1, max_length=20, description=(
        "origins allowed to embed the widget, e.g. https://www.acme.example"))
    greeting: str | None = Field(default=None, max_length=500)
    fallback_email_channel_id: uuid.UUID | None = Field(default=None, description=(
        "the email channel replies use when the visitor has left (else the first active)"))

    @field_validator("site")
    @classmethod
    def _site(cls, value: str) -> str:
        host = value.strip().lower()
        if not _HOST.match(host):
            raise ValueError("site must be a host name like www.acme.example")
        return host

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, values: list[str]) -> list[str]:
        cleaned = []
        for value in values:
            parts = urlsplit(value.strip())
            if parts.scheme not in ("https", "http") or not parts.hostname or (
                    parts.path not in ("", "/") or parts.query or parts.fragment
                    or parts.username or parts.password):
                raise ValueError(f"{value!r} is not an origin like https://www.acme.example")
            cleaned.append(f"{parts.scheme}://{parts.netloc.lower()}")
        return cleaned


class WebchatConnector:
    kind: ClassVar[str] = "webchat"
    config_model: ClassVar[type[BaseModel]] = WebchatConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, chat_hub: ChatHub = hub) -> None:
        self.hub = chat_hub

    def address_of(self, config: BaseModel) -> str:
        return config_as(config, WebchatConfig).site

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return first_address(addresses, VISITOR)

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        external_id = f"chat-out-{message.idempotency_key or uuid.uuid4().hex}"
        payload = {"type": "message", "id": external_id, "direction": "outbound",
                   "sender_type": "agent", "text": message.text,
                   "agent_name": message.metadata.get("agent_name")}
        key = hub_key(message.metadata.get("channel_id", ""), message.to)
        if not await self.hub.push(key, payload):
            raise SendError("the visitor has left the chat", transient=False,
                            code=VISITOR_OFFLINE)
        return SendResult(external_id=external_id)


VISITOR_OFFLINE = "visitor_offline"
