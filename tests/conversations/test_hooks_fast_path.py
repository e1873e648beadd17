"""The provider-webhook fast path keeps the API's contracts: limits, errors, request ids."""

from __future__ import annotations

import uuid

import httpx

from cxprism.kit.db import Database
from tests.conversations.helpers import KIND, inbound, make_channel, signed
from tests.conversations.test_inbox import message_count
from tests.fixtures.builders import Tenant


async def test_a_webhook_over_the_body_limit_gets_413_and_stores_nothing(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    channel = await make_channel(client, tenant.headers)
    raw, headers = signed({"id": "big", "text": "x" * 70_000, "from": "big@example.com"})
    response = await client.post(f"/hooks/{KIND}/{channel['id']}", content=raw,
                                 headers={**headers, "X-Request-ID": "req-413"})
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert response.headers["x-request-id"] == "req-413"
    assert await message_count(db) == 0


async def test_wrong_methods_and_malformed_targets_are_refused_clearly(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    channel = await make_channel(client, tenant.headers)
    put = await client.put(f"/hooks/{KIND}/{channel['id']}", content=b"{}")
    assert put.status_code == 405 and put.json()["error"]["code"] == "method_not_allowed"
    for path in (f"/hooks/{KIND}/not-a-uuid", f"/hooks/{KIND}", f"/hooks/nosuch/{uuid.uuid4()}",
                 f"/hooks/{KIND}/{channel['id']}/extra"):
        response = await client.post(path, content=b"{}")
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


async def test_an_accepted_webhook_echoes_a_sane_request_id_and_replaces_a_hostile_one(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    channel = await make_channel(client, tenant.headers)
    ok = await inbound(client, channel, id="rid-1", text="hi", **{"from": "r@example.com"})
    assert ok.status_code == 200 and len(ok.headers["x-request-id"]) == 32
    raw, headers = signed({"id": "rid-2", "text": "hi", "from": "r@example.com"})
    hostile = await client.post(f"/hooks/{KIND}/{channel['id']}", content=raw,
                                headers={**headers, "X-Request-ID": "bad id\r\nx: y"})
    assert hostile.status_code == 200
    assert hostile.headers["x-request-id"] != "bad id\r\nx: y"
