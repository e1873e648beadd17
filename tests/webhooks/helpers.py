"""A real HTTP receiver for webhook tests, and the steps that move deliveries along."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import select, update

from cxprism.bus import events
from cxprism.bus.backends import InProcessBackend
from cxprism.bus.consumers import registry as consumers
from cxprism.bus.relay import Relay
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler.models import Job
from cxprism.scheduler.registry import registry as jobs
from cxprism.scheduler.worker import Worker
from cxprism.webhooks import tasks  # noqa: F401 - registers the consumer and the job
from cxprism.webhooks.delivery import DELIVER_JOB
from cxprism.webhooks.models import WebhookDelivery, WebhookEndpoint
from tests.fixtures.builders import Tenant


@dataclass(frozen=True)
class Reply:
    status: int = 204
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    delay: float = 0.0
    trickle: int = 0  # then send the body as this many bytes, ``delay`` apart


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every request; answers with ``script`` in turn, then with ``default``."""

    base: str = ""
    script: list[Reply] = field(default_factory=list)
    default: Reply = field(default_factory=Reply)
    received: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"{self.base}/hook"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.received.append(Received(scope["path"], headers, body))
        reply = self.script.pop(0) if self.script else self.default
        if reply.delay and not reply.trickle:
            await asyncio.sleep(reply.delay)
        await send({"type": "http.response.start", "status": reply.status,
                    "headers": [(k.encode(), v.encode()) for k, v in reply.headers.items()]})
        for _ in range(reply.trickle):
            await send({"type": "http.response.body", "body": b".", "more_body": True})
            await asyncio.sleep(reply.delay)
        await send({"type": "http.response.body", "body": reply.body})


async def create_endpoint(client: httpx.AsyncClient, tenant: Tenant, url: str,
                          *event_types: str) -> dict[str, Any]:
    response = await client.post("/api/v1/webhook-endpoints", headers=tenant.headers,
                                 json={"url": url, "event_types": list(event_types)})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def record_event(db: Database, workspace_id: uuid.UUID, type_: str,
                       payload: dict[str, Any] | None = None) -> uuid.UUID:
    async with db.session() as session:
        event_id = events.record(session, workspace_id, type_, payload or {"n": 1})
        await session.commit()
    return event_id


async def fan_out(db: Database) -> None:
    """Relay every committed event to the consumers (the webhooks fan-out among them)."""
    relay = Relay(db, InProcessBackend(db, consumers))
    while await relay.run_once():
        pass


async def deliver(db: Database) -> int:
    """One round of the scheduler worker, as in production; how many jobs it claimed."""
    return await Worker(db, jobs, owner="webhook-tests", batch_size=100).run_once()


async def due_now(db: Database) -> None:
    """Instead of sleeping until the next attempt: every queued delivery job is due now."""
    async with db.session() as session:
        await session.execute(update(Job).where(Job.kind == DELIVER_JOB,
                                                Job.status == "queued").values(run_at=utcnow()))
        await session.commit()


async def delivery_jobs(db: Database) -> list[Job]:
    async with db.session() as session:
        rows = await session.execute(select(Job).where(Job.kind == DELIVER_JOB).order_by(Job.id))
        return list(rows.scalars())


async def deliveries(db: Database, endpoint_id: str | uuid.UUID) -> list[WebhookDelivery]:
    async with db.session() as session:
        rows = await session.execute(select(WebhookDelivery).where(
            WebhookDelivery.endpoint_id == uuid.UUID(str(endpoint_id))).order_by(
            WebhookDelivery.id))
        return list(rows.scalars())


async def endpoint_row(db: Database, endpoint_id: str) -> WebhookEndpoint:
    async with db.session() as session:
        found = await session.get(WebhookEndpoint, uuid.UUID(endpoint_id))
        assert found is not None
        return found


def seconds_until(moment: datetime | None) -> float:
    assert moment is not None
    return (moment - utcnow()).total_seconds()
