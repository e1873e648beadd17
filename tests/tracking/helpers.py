"""Sources, Segment auth headers and relay draining for the tracking tests."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy import func, select

from cxprism.bus.backends import InProcessBackend
from cxprism.bus.consumers import registry
from cxprism.bus.relay import Relay
from cxprism.kit.db import Database
from cxprism.tracking import tasks  # noqa: F401 - registers the tracking consumers
from cxprism.tracking.models import TrackedEvent
from cxprism.workspaces import schemas
from cxprism.workspaces.service import WorkspaceService
from tests.fixtures.builders import Tenant


@dataclass(frozen=True)
class Source:
    id: uuid.UUID
    write_key: str

    @property
    def basic(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.write_key}:".encode()).decode()
        return {"Authorization": f"Basic {token}"}


async def make_source(db: Database, tenant: Tenant, name: str = "website") -> Source:
    async with db.session() as session:
        source, key = await WorkspaceService(session, tenant.workspace_id).create_source(
            schemas.SourceCreate(name=name, kind=schemas.SourceKind("website")))
        await session.commit()
        return Source(source.id, key)


async def drain(db: Database) -> None:
    """Deliver every committed domain event to the registered consumers."""
    relay = Relay(db, InProcessBackend(db, registry))
    while await relay.run_once():
        pass


async def stored_count(db: Database, workspace_id: uuid.UUID | None = None) -> int:
    stmt = select(func.count()).select_from(TrackedEvent)
    if workspace_id is not None:
        stmt = stmt.where(TrackedEvent.workspace_id == workspace_id)
    async with db.session() as session:
        return int((await session.execute(stmt)).scalar_one())


def track(n: int = 0, **extra: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Viewed Product", "userId": f"user-{n}",
            "messageId": f"msg-{n}", "properties": {"sku": f"sku-{n}"},
            "timestamp": "2026-11-20T10:00:00Z", **extra}


async def post(client: httpx.AsyncClient, path: str, source: Source, body: Any,
               **headers: str) -> httpx.Response:
    return await client.post(path, json=body, headers={**source.basic, **headers})


async def customer_by_email(client: httpx.AsyncClient, tenant: Tenant, email: str) -> str:
    response = await client.get("/api/v1/customers/lookup", headers=tenant.headers,
                                params={"kind": "email", "value": email})
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def erase_with_suppression(client: httpx.AsyncClient, db: Database, tenant: Tenant,
                                 source: Source, identify: dict[str, Any]) -> None:
    """Track ``identify`` (its ``traits.email`` names the person), then erase that person
    with suppression, as they would ask to be."""
    await post(client, "/v1/identify", source, identify)
    await drain(db)
    customer_id = await customer_by_email(client, tenant, identify["traits"]["email"])
    erased = await client.post(f"/api/v1/customers/{customer_id}/erase",
                               headers=tenant.headers, json={"suppress": True})
    assert erased.status_code in (200, 201), erased.text

