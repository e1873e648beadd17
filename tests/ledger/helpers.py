"""Helpers for ledger tests: relaying committed events to the ledger consumer."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx

from cxprism.bus.backends import InProcessBackend
from cxprism.bus.consumers import registry as consumers
from cxprism.bus.events import DomainEvent
from cxprism.bus.relay import Relay
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.kit.ids import uuid7
from cxprism.ledger import tasks  # noqa: F401 - registers the ledger consumer
from tests.fixtures.builders import Tenant


async def relay_all(db: Database) -> None:
    """Relay every committed event to every consumer, the ledger's among them."""
    relay = Relay(db, InProcessBackend(db, consumers))
    while await relay.run_once():
        pass


async def get_json(client: httpx.AsyncClient, tenant: Tenant, path: str,
                   status: int = 200) -> Any:
    response = await client.get(f"/api/v1/ledger{path}", headers=tenant.headers)
    assert response.status_code == status, response.text
    return response.json()


async def add_customers(client: httpx.AsyncClient, tenant: Tenant, count: int,
                        first: int = 0) -> list[str]:
    """Customers whose consent is granted: each grant is a ledgered event."""
    ids = []
    for n in range(first, first + count):
        created = await client.post("/api/v1/customers", headers=tenant.headers, json={
            "identities": [{"kind": "email", "value": f"person{n}@{tenant.slug}.example"}]})
        assert created.status_code == 201, created.text
        customer_id = created.json()["id"]
        consent = await client.post(f"/api/v1/customers/{customer_id}/consent",
                                    headers=tenant.headers, json={
                                        "channel": "email", "purpose": "marketing",
                                        "status": "granted", "source": "web_form"})
        assert consent.status_code in (200, 201), consent.text
        ids.append(customer_id)
    return ids


def consent_event(workspace_id: uuid.UUID, n: int) -> DomainEvent:
    """A ledgered event about customer ``n % 7 + 1`` (so every seventh names the same)."""
    return DomainEvent(uuid7(), workspace_id, "consent.changed", {
        "customer_id": str(uuid.UUID(int=n % 7 + 1)), "channel": "email",
        "purpose": "marketing", "status": "granted" if n % 2 else "withdrawn",
        "source": "drill", "actor_id": None}, utcnow() + timedelta(seconds=n), seq=n + 1)
