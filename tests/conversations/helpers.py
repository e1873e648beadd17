"""A connector for tests (a third party's, as far as cxprism can tell) and shared steps."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx
import orjson
from pydantic import BaseModel, ConfigDict

from cxprism.bus.backends import InProcessBackend
from cxprism.bus.consumers import registry as consumers
from cxprism.bus.relay import Relay
from cxprism.channels.protocol import (
    Address,
    Attachment,
    DeliveryStatus,
    InboundMessage,
    OutboundMessage,
    PayloadInvalid,
    SendError,
    SendResult,
    SignatureInvalid,
    StatusUpdate,
    WebhookRequest,
    WebhookResult,
)
from cxprism.channels.registry import registry
from cxprism.kit.db import Database
from cxprism.scheduler.registry import registry as jobs
from cxprism.scheduler.worker import Worker

KIND = "testchat"
SECRET = "chat-signing-secret"


class ChatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str
    signing_secret: str


@dataclass
class ChatConnector:
    """Signs with HMAC-SHA256 in ``x-test-signature``; sends into ``sent``."""

    kind: ClassVar[str] = KIND
    medium: ClassVar[str] = "email"  # consent and budgets of email apply to it
    config_model: ClassVar[type[BaseModel]] = ChatConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"signing_secret"})
    sent: list[OutboundMessage] = field(default_factory=list)
    failures: list[SendError] = field(default_factory=list)

    def address_of(self, config: BaseModel) -> str:
        assert isinstance(config, ChatConfig)
        return config.account

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return next((a.value for a in addresses if a.kind == "email"), None)

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return SendResult(external_id=f"out-{uuid.uuid4().hex}")

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        assert isinstance(config, ChatConfig)
        expected = hmac.new(config.signing_secret.encode(), request.body, hashlib.sha256)
        if not hmac.compare_digest(expected.hexdigest(), request.headers.get("x-test-signature",
                                                                             "")):
            raise SignatureInvalid("x-test-signature does not match the body")
        try:
            body = orjson.loads(request.body)
        except orjson.JSONDecodeError as exc:
            raise PayloadInvalid(str(exc)) from exc
        if "status_of" in body:
            return WebhookResult(statuses=[StatusUpdate(body["status_of"],
                                                        DeliveryStatus(body["status"]))])
        return WebhookResult(messages=[InboundMessage(
            external_id=body["id"], sender=[Address("email", body["from"])],
            text=body.get("text", ""), html=body.get("html"), thread_key=body.get("thread"),
            subject=body.get("subject"), thread_refs=body.get("refs", []),
            attachments=[Attachment(a["filename"], a["content_type"], base64.b64decode(a["data"]))
                         for a in body.get("attachments", [])])])


def connector() -> ChatConnector:
    found = registry._connectors.get(KIND)
    if found is None:
        return registry.register(ChatConnector())  # type: ignore[return-value]
    return found  # type: ignore[return-value]


def signed(body: dict[str, Any], secret: str = SECRET) -> tuple[bytes, dict[str, str]]:
    raw = orjson.dumps(body)
    signature = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return raw, {"x-test-signature": signature, "content-type": "application/json"}


async def make_channel(client: httpx.AsyncClient, headers: dict[str, str],
                       account: str = "acme-chat") -> dict[str, Any]:
    connector()
    response = await client.post("/api/v1/channels", headers=headers, json={
        "kind": KIND, "name": "Chat", "config": {"account": account,
                                                  "signing_secret": SECRET}})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def inbound(client: httpx.AsyncClient, channel: dict[str, Any],
                  **item: Any) -> httpx.Response:
    raw, headers = signed(item)
    return await client.post(f"/hooks/{KIND}/{channel['id']}", content=raw, headers=headers)


async def run_jobs(db: Database) -> int:
    """Run every due job once; how many ran."""
    return await Worker(db, jobs, owner="tests", poll_seconds=0.01).run_once()


async def drain_events(db: Database) -> None:
    relay = Relay(db, InProcessBackend(db, consumers))
    while await relay.run_once():
        pass
