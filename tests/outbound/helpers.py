"""Shared by the outbound tests: recording connectors for two mediums and the API steps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel, ConfigDict
from sqlalchemy import update

from cxprism.channels.protocol import Address, OutboundMessage, SendResult
from cxprism.channels.registry import registry
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler.models import Job
from cxprism.scheduler.registry import registry as jobs
from cxprism.scheduler.worker import Worker
from tests.fixtures.builders import Tenant


class StubConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account: str


@dataclass
class RecordingConnector:
    """A provider that keeps what it was sent; ``failures`` are raised first, in order."""

    kind: ClassVar[str] = "test_mail"
    medium: ClassVar[str] = "email"
    identity: ClassVar[str] = "email"
    config_model: ClassVar[type[BaseModel]] = StubConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    sent: list[OutboundMessage] = field(default_factory=list)
    failures: list[Exception] = field(default_factory=list)

    def address_of(self, config: BaseModel) -> str:
        assert isinstance(config, StubConfig)
        return config.account

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return next((a.value for a in addresses if a.kind == self.identity), None)

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)
        return SendResult(external_id=f"ext-{uuid.uuid4().hex}")


@dataclass
class RecordingSms(RecordingConnector):
    kind: ClassVar[str] = "test_sms"
    medium: ClassVar[str] = "sms"
    identity: ClassVar[str] = "phone"


@dataclass
class LookupConnector(RecordingConnector):
    """A provider that can be asked whether it has a message (by idempotency key)."""

    kind: ClassVar[str] = "test_lookup"
    received: dict[str, str] = field(default_factory=dict)

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        result = await super().send(config, message, http)
        self.received[message.idempotency_key or ""] = result.external_id
        return result

    async def lookup(self, config: BaseModel, message: OutboundMessage, since: datetime,
                     http: httpx.AsyncClient) -> SendResult | None:
        found = self.received.get(message.idempotency_key or "")
        return SendResult(external_id=found) if found else None


def installed(cls: type[RecordingConnector]) -> RecordingConnector:
    """The registered instance of ``cls`` (registered once per test run), emptied."""
    found = registry._connectors.get(cls.kind)
    if found is None:
        found = registry.register(cls())  # type: ignore[arg-type]
    assert isinstance(found, cls)
    found.sent.clear()
    found.failures.clear()
    return found


async def connect(client: httpx.AsyncClient, tenant: Tenant, kind: str,
                  account: str | None = None) -> dict[str, Any]:
    response = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": kind, "name": kind,
        "config": {"account": account or f"{kind}-{tenant.workspace_id.hex[:8]}"}})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def customer(client: httpx.AsyncClient, tenant: Tenant, *, email: str | None = None,
                   phone: str | None = None, **fields: Any) -> str:
    identities = []
    if email:
        identities.append({"kind": "email", "value": email})
    if phone:
        identities.append({"kind": "phone", "value": phone})
    response = await client.post("/api/v1/customers", headers=tenant.headers,
                                 json={"identities": identities, **fields})
    assert response.status_code in (200, 201), response.text
    return str(response.json()["id"])


async def consent(client: httpx.AsyncClient, tenant: Tenant, customer_id: str, channel: str,
                  purpose: str, status: str = "granted") -> None:
    response = await client.post(f"/api/v1/customers/{customer_id}/consent",
                                 headers=tenant.headers, json={
                                     "channel": channel, "purpose": purpose, "status": status,
                                     "source": "test"})
    assert response.status_code in (200, 201), response.text


async def send(client: httpx.AsyncClient, tenant: Tenant, customer_id: str, cause: str,
               **fields: Any) -> httpx.Response:
    body = {"customer_id": customer_id, "cause": cause, "purpose": "transactional",
            "channel": "email", "content": {"subject": "Hello", "text": "Hi there"}, **fields}
    return await client.post("/api/v1/outbound/sends", headers=tenant.headers, json=body)


async def sent_ok(client: httpx.AsyncClient, tenant: Tenant, customer_id: str, cause: str,
                  **fields: Any) -> dict[str, Any]:
    response = await send(client, tenant, customer_id, cause, **fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def get_send(client: httpx.AsyncClient, tenant: Tenant, send_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/outbound/sends/{send_id}", headers=tenant.headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def make_queued_jobs_due(db: Database) -> None:
    """As if the time every waiting job waits for (a deferral, a retry) had come."""
    async with db.session() as session:
        await session.execute(update(Job).where(Job.status == "queued")
                              .values(run_at=utcnow() - timedelta(seconds=1)))
        await session.commit()


async def run_jobs(db: Database, rounds: int = 3) -> None:
    worker = Worker(db, jobs, owner="tests", poll_seconds=0.01)
    for _ in range(rounds):
        if not await worker.run_once():
            return
