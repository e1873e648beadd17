"""The webhooks API: secrets shown once and stored sealed, URLs and event types checked,
the delivery log (filters, pages, attempts), test events, deletion, the catalogue."""

from __future__ import annotations

import base64
import uuid

import httpx
import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import text

from cxprism.kit.db import Database
from cxprism.webhooks import signing
from cxprism.webhooks.catalogue import CATALOGUE
from cxprism.workspaces.permissions import Role
from tests.fixtures.builders import Tenant, api_key_for
from tests.webhooks.helpers import (
    Receiver,
    Reply,
    create_endpoint,
    deliver,
    delivery_jobs,
    due_now,
    endpoint_row,
    fan_out,
    record_event,
)

URL = "https://hooks.example.com/in"


async def test_the_secret_is_shown_once_and_stored_sealed(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await create_endpoint(client, tenant, URL, "customer.*")
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    shown = [(await client.get("/api/v1/webhook-endpoints", headers=tenant.headers)).text,
             (await client.get(f"/api/v1/webhook-endpoints/{created['id']}",
                               headers=tenant.headers)).text,
             (await client.patch(f"/api/v1/webhook-endpoints/{created['id']}",
                                 headers=tenant.headers, json={"description": "x"})).text]
    assert all(secret not in body and '"secret"' not in body for body in shown)
    row = await endpoint_row(db, created["id"])
    assert secret.encode() not in row.secret
    assert signing.unseal(row.id, row.secret) == secret
    with pytest.raises(InvalidTag):  # sealed to its own row
        signing.unseal(uuid.uuid4(), row.secret)


@pytest.mark.parametrize("url", [
    "http://10.0.0.7/hook", "http://169.254.169.254/latest/meta-data", "http://[::1]:8080/",
    "http://192.168.1.1/", "http://127.0.0.2/", "http://localhost:9000/", "http://2852039166/", "ftp://example.com/",
    "http://user:pw@example.com/", "not a url"])
async def test_an_unsafe_or_malformed_url_is_refused_at_creation(
        client: httpx.AsyncClient, tenant: Tenant, url: str) -> None:
    response = await client.post("/api/v1/webhook-endpoints", headers=tenant.headers,
                                 json={"url": url, "event_types": ["*"]})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["details"][0]["field"] == "url"
    assert (await client.get("/api/v1/webhook-endpoints",
                             headers=tenant.headers)).json()["data"] == []


@pytest.mark.parametrize("patterns", [
    ["customer.creatd"], ["nothing.*"], ["mess*ge.sent"], ["*.created"], [".*"], ["message.**"]])
async def test_event_types_that_match_nothing_are_refused(
        client: httpx.AsyncClient, tenant: Tenant, patterns: list[str]) -> None:
    response = await client.post("/api/v1/webhook-endpoints", headers=tenant.headers,
                                 json={"url": URL, "event_types": ["customer.created",
                                                                   *patterns]})
    assert response.status_code == 422, response.text
    assert [d["value"] for d in response.json()["error"]["details"]] == patterns
    endpoint = await create_endpoint(client, tenant, URL, "*")
    patched = await client.patch(f"/api/v1/webhook-endpoints/{endpoint['id']}",
                                 headers=tenant.headers, json={"event_types": patterns})
    assert patched.status_code == 422, patched.text


async def test_the_delivery_log_filters_pages_and_shows_attempts(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    endpoint = await create_endpoint(client, tenant, receiver.url, "customer.*")
    receiver.script = [Reply(500, body=b"down for maintenance"), Reply(500)]
    for n in range(5):
        await record_event(db, tenant.workspace_id, "customer.updated", {"n": n})
    await fan_out(db)
    await deliver(db)  # two fail (retried), three succeed
    base = f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries"
    seen, cursor = [], None
    while True:
        page = (await client.get(base, headers=tenant.headers,
                                 params={"limit": 2, **({"cursor": cursor} if cursor else {})}
                                 )).json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and len({d["id"] for d in seen}) == 5
    assert [d["id"] for d in seen] == sorted((d["id"] for d in seen), reverse=True)
    pending = (await client.get(base, headers=tenant.headers,
                                params={"status": "pending"})).json()["data"]
    succeeded = (await client.get(base, headers=tenant.headers,
                                  params={"status": "succeeded"})).json()["data"]
    assert (len(pending), len(succeeded)) == (2, 3)
    assert all(d["next_attempt_at"] is not None for d in pending)
    detail = (await client.get(f"/api/v1/webhook-deliveries/{pending[0]['id']}",
                               headers=tenant.headers)).json()
    [attempt] = detail["attempt_history"]
    assert attempt["status_code"] == 500 and attempt["error"] == "HTTP 500"
    assert attempt["duration_ms"] >= 0
    assert detail["body"]["type"] == "customer.updated"
    excerpts = [(await client.get(f"/api/v1/webhook-deliveries/{d['id']}", headers=tenant.headers)
                 ).json()["attempt_history"][0]["response_excerpt"] for d in pending]
    assert "down for maintenance" in excerpts
    bad = await client.get(base, headers=tenant.headers, params={"status": "lost"})
    assert bad.status_code == 422


async def test_a_test_event_goes_to_that_endpoint_only(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    endpoint = await create_endpoint(client, tenant, receiver.url, "customer.created")
    await create_endpoint(client, tenant, receiver.url + "/other", "*")
    response = await client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/test",
                                 headers=tenant.headers)
    assert response.status_code == 202, response.text
    assert response.json()["event_type"] == "webhook.test"
    assert response.json()["status"] == "pending"
    await deliver(db)
    assert [r.path for r in receiver.received] == ["/hook"]


async def test_a_disabled_endpoint_refuses_tests_and_redeliveries(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    endpoint = await create_endpoint(client, tenant, receiver.url, "customer.*")
    await record_event(db, tenant.workspace_id, "customer.created")
    await fan_out(db)
    await deliver(db)
    [delivery] = (await client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries",
                                   headers=tenant.headers)).json()["data"]
    await client.patch(f"/api/v1/webhook-endpoints/{endpoint['id']}", headers=tenant.headers,
                       json={"is_active": False})
    for path in (f"/api/v1/webhook-endpoints/{endpoint['id']}/test",
                 f"/api/v1/webhook-deliveries/{delivery['id']}/redeliver"):
        response = await client.post(path, headers=tenant.headers)
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] == "endpoint_disabled"


async def test_deleting_an_endpoint_takes_its_log_and_stops_its_retries(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, receiver: Receiver) -> None:
    endpoint = await create_endpoint(client, tenant, receiver.url, "customer.*")
    receiver.script = [Reply(500)]
    await record_event(db, tenant.workspace_id, "customer.created")
    await fan_out(db)
    await deliver(db)
    [delivery] = (await client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries",
                                   headers=tenant.headers)).json()["data"]
    response = await client.delete(f"/api/v1/webhook-endpoints/{endpoint['id']}",
                                   headers=tenant.headers)
    assert response.status_code == 204
    for path in (f"/api/v1/webhook-endpoints/{endpoint['id']}",
                 f"/api/v1/webhook-deliveries/{delivery['id']}"):
        assert (await client.get(path, headers=tenant.headers)).status_code == 404
    await due_now(db)
    assert await deliver(db) == 1
    assert len(receiver.received) == 1  # the retry found nothing to send
    [job] = await delivery_jobs(db)
    assert job.status == "succeeded"
    async with db.session() as session:
        left = await session.execute(text("SELECT count(*) FROM webhook_attempts"))
        assert left.scalar_one() == 0


async def test_create_accepts_an_idempotency_key(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-hook-1"}
    body = {"url": URL, "event_types": ["*"]}
    first = await client.post("/api/v1/webhook-endpoints", headers=headers, json=body)
    again = await client.post("/api/v1/webhook-endpoints", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    listed = await client.get("/api/v1/webhook-endpoints", headers=tenant.headers)
    assert len(listed.json()["data"]) == 1


async def test_the_catalogue_is_served_to_readers(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    analyst = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.ANALYST)}"}
    response = await client.get("/api/v1/event-types", headers=analyst)
    assert response.status_code == 200, response.text
    served = {item["type"]: item for item in response.json()["data"]}
    assert set(served) == set(CATALOGUE)
    outbound = served["outbound.deferred"]["payload_schema"]
    assert {"send_id", "customer_id", "channel_kind", "purpose", "status",
            "reason"} <= set(outbound["required"])
    assert all(item["description"] for item in served.values())
    assert (await client.get("/api/v1/webhook-endpoints", headers=analyst)).status_code == 403
