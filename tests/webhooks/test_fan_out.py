"""Fan-out: which endpoints an event reaches (patterns, workspaces, state), exactly once."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import update

from cxprism.bus.events import DomainEvent
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.kit.ids import uuid7
from cxprism.scheduler.models import Job
from cxprism.scheduler.service import enqueue
from cxprism.webhooks.delivery import DELIVER_JOB
from cxprism.webhooks.service import fan_out as fan_out_event
from tests.fixtures.builders import Tenant
from tests.webhooks.helpers import (
    Receiver,
    create_endpoint,
    deliver,
    deliveries,
    fan_out,
    record_event,
)

TYPES = ["customer.created", "customer.updated", "user.created", "channel.connected",
         "conversation.updated"]


async def test_wildcards_match_as_documented(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await fan_out(db)  # the tenant's own set-up events are not part of this test
    url = "https://hooks.example.com/in"
    subscriptions = {
        "all": ["*"], "customers": ["customer.*"], "exact": ["customer.created"],
        "mixed": ["conversation.*", "user.created"]}
    ids = {name: (await create_endpoint(client, tenant, url, *patterns))["id"]
           for name, patterns in subscriptions.items()}
    for type_ in TYPES:
        await record_event(db, tenant.workspace_id, type_)
    await fan_out(db)
    got = {name: sorted(d.event_type for d in await deliveries(db, endpoint_id))
           for name, endpoint_id in ids.items()}
    assert got == {
        "all": sorted(TYPES),
        "customers": ["customer.created", "customer.updated"],
        "exact": ["customer.created"],
        "mixed": ["conversation.updated", "user.created"],
    }


async def test_another_workspaces_events_never_reach_an_endpoint(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        receiver: Receiver) -> None:
    await fan_out(db)
    ours = await create_endpoint(client, tenant, receiver.url, "*")
    theirs = await create_endpoint(client, other_tenant, receiver.url + "/theirs", "*")
    await record_event(db, other_tenant.workspace_id, "customer.created", {"who": "globex"})
    await record_event(db, tenant.workspace_id, "customer.created", {"who": "acme"})
    await fan_out(db)
    await deliver(db)
    assert [d.workspace_id for d in await deliveries(db, ours["id"])] == [tenant.workspace_id]
    assert [d.workspace_id for d in await deliveries(db, theirs["id"])] == [
        other_tenant.workspace_id]
    by_path = {r.path: r.body for r in receiver.received}
    assert b"acme" in by_path["/hook"] and b"globex" not in by_path["/hook"]
    assert b"globex" in by_path["/hook/theirs"] and b"acme" not in by_path["/hook/theirs"]
    # Neither workspace sees the other's endpoint or deliveries through the API.
    for headers, endpoint_id in ((other_tenant.headers, ours["id"]),
                                 (tenant.headers, theirs["id"])):
        listed = await client.get(f"/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
                                  headers=headers)
        assert listed.status_code == 404


async def test_disabled_endpoints_get_nothing_and_an_event_fans_out_once(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await fan_out(db)
    active = await create_endpoint(client, tenant, "https://a.example.com/in", "*")
    paused = await create_endpoint(client, tenant, "https://b.example.com/in", "*")
    response = await client.patch(f"/api/v1/webhook-endpoints/{paused['id']}",
                                  headers=tenant.headers, json={"is_active": False})
    assert response.json()["disabled_reason"] == "disabled by a user"
    event = DomainEvent(uuid7(), tenant.workspace_id, "customer.created", {}, utcnow())
    for _ in range(2):  # the bus delivers at least once
        async with db.session() as session:
            await fan_out_event(session, event)
            await session.commit()
    assert len(await deliveries(db, active["id"])) == 1
    assert await deliveries(db, paused["id"]) == []


async def test_disabling_an_endpoint_cancels_its_pending_deliveries(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await fan_out(db)
    endpoint = await create_endpoint(client, tenant, "https://a.example.com/in", "*")
    await record_event(db, tenant.workspace_id, "customer.created")
    await fan_out(db)
    await client.patch(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.headers,
                       json={"is_active": False})
    [delivery] = await deliveries(db, endpoint["id"])
    assert delivery.status == "cancelled" and delivery.next_attempt_at is None
    assert await deliver(db) == 1  # its job ends without a call


async def test_a_job_never_reaches_another_workspaces_delivery(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        receiver: Receiver) -> None:
    endpoint = await create_endpoint(client, tenant, receiver.url, "customer.*")
    await record_event(db, tenant.workspace_id, "customer.created")
    await fan_out(db)
    [delivery] = await deliveries(db, endpoint["id"])
    async with db.session() as session:  # a job in B's name, naming A's delivery
        await enqueue(session, DELIVER_JOB, {"delivery_id": str(delivery.id), "round": 0},
                      workspace_id=other_tenant.workspace_id)
        await session.execute(update(Job).where(Job.workspace_id == tenant.workspace_id)
                              .values(run_at=utcnow() + timedelta(hours=1)))
        await session.commit()
    assert await deliver(db) == 1
    assert receiver.received == []
    [untouched] = await deliveries(db, endpoint["id"])
    assert untouched.status == "pending" and untouched.attempts == 0
