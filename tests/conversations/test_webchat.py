"""Web chat over a real WebSocket: visitor in, agent replies live, email when they leave."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from cxprism.app import create_app
from cxprism.config import Settings
from cxprism.kit.db import Database
from tests.conversations.helpers import run_jobs
from tests.conversations.test_email_channel import Relay, relay  # noqa: F401 - a fixture
from tests.fixtures.builders import Tenant
from tests.fixtures.live import free_port, serve_in_loop
from tests.tracking.helpers import drain, make_source

SITE = "https://shop.acme.test"


@pytest.fixture
async def server(settings: Settings, db: Database) -> AsyncIterator[str]:
    """A real server in this test's event loop (so jobs run here reach its sockets)."""
    port = free_port()
    app = create_app(settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}),
                     database=db, run_workers=False)
    async with serve_in_loop(app, port=port, lifespan="on") as base:
        yield base


@pytest.fixture
async def chat(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    response = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": "webchat", "name": "Shop chat", "config": {
            "site": "shop.acme.test", "allowed_origins": [SITE], "greeting": "Hi there!"}})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def start(base: str, chat: dict[str, Any], origin: str = SITE,
                **body: Any) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{base}/chat/{chat['id']}/sessions", json=body,
                               headers={"Origin": origin})


def socket_url(base: str, chat: dict[str, Any], token: str) -> str:
    return f"{base.replace('http', 'ws')}/chat/{chat['id']}/ws?token={token}"


async def frame(ws: ClientConnection) -> dict[str, Any]:
    return dict(orjson.loads(await asyncio.wait_for(ws.recv(), 10)))


async def say(ws: ClientConnection, client_id: str, text: str) -> dict[str, Any]:
    await ws.send(orjson.dumps({"type": "message", "client_id": client_id, "text": text}).decode())
    return await frame(ws)


async def test_a_visitor_chats_and_the_agent_answers_live(
        server: str, chat: dict[str, Any], client: httpx.AsyncClient, db: Database,
        tenant: Tenant) -> None:
    session = await start(server, chat, anonymous_id="anon-42")
    assert session.status_code == 200, session.text
    assert session.headers["access-control-allow-origin"] == SITE
    token = session.json()["token"]
    async with connect(socket_url(server, chat, token), origin=SITE) as ws:  # type: ignore[arg-type]
        assert await frame(ws) == {"type": "history", "messages": []}
        ack = await say(ws, "c1", "Do you ship to Norway?")
        assert ack["type"] == "ack" and ack["duplicate"] is False
        again = await say(ws, "c1", "Do you ship to Norway?")  # a resend after a lost ack
        assert again["duplicate"] is True
        [conversation] = (await client.get("/api/v1/conversations",
                                           headers=tenant.headers)).json()["data"]
        reply = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                                  headers=tenant.headers, json={"text": "Yes, in 3 days."})
        assert reply.status_code == 202, reply.text
        await run_jobs(db)
        pushed = await frame(ws)
        assert (pushed["type"], pushed["text"]) == ("message", "Yes, in 3 days.")
    # Coming back: the same visitor, with their history.
    async with connect(socket_url(server, chat, token), origin=SITE) as ws:  # type: ignore[arg-type]
        history = (await frame(ws))["messages"]
        assert [m["text"] for m in history] == ["Do you ship to Norway?", "Yes, in 3 days."]
    messages = (await client.get(f"/api/v1/conversations/{conversation['id']}/messages",
                                 headers=tenant.headers)).json()["data"]
    assert [m["status"] for m in messages] == ["received", "sent"]


async def test_the_chat_joins_the_visitors_behaviour_trail(
        server: str, chat: dict[str, Any], client: httpx.AsyncClient, db: Database,
        tenant: Tenant) -> None:
    source = await make_source(db, tenant)
    tracked = await client.post("/v1/track", auth=(source.write_key, ""), json={
        "anonymousId": "anon-7", "event": "Help Article Viewed", "messageId": "t-1"})
    assert tracked.status_code == 200
    await drain(db)
    token = (await start(server, chat, anonymous_id="anon-7")).json()["token"]
    async with connect(socket_url(server, chat, token), origin=SITE) as ws:  # type: ignore[arg-type]
        await frame(ws)
        await say(ws, "c1", "The article did not help")
    [conversation] = (await client.get("/api/v1/conversations",
                                       headers=tenant.headers)).json()["data"]
    timeline = await client.get(f"/api/v1/customers/{conversation['customer_id']}/timeline",
                                headers=tenant.headers)
    names = [item["event"]["name"] for item in timeline.json()["data"] if item["kind"] == "event"]
    assert names == ["Help Article Viewed"]


async def test_replies_fall_back_to_email_when_the_visitor_has_left(
        server: str, chat: dict[str, Any], client: httpx.AsyncClient, db: Database,
        tenant: Tenant, relay: Relay) -> None:  # noqa: F811 - the fixture
    email = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": "email", "name": "Support", "config": {
            "address": "support@acme.test", "smtp_host": "127.0.0.1", "smtp_port": relay.port,
            "smtp_tls": "none"}})
    assert email.status_code == 201, email.text
    token = (await start(server, chat)).json()["token"]
    async with connect(socket_url(server, chat, token), origin=SITE) as ws:  # type: ignore[arg-type]
        await frame(ws)
        await say(ws, "c1", "Call me back?")
        await ws.send(orjson.dumps({"type": "identify", "email": "ann@customer.test"}).decode())
        assert (await frame(ws))["type"] == "identified"
    [conversation] = (await client.get("/api/v1/conversations",
                                       headers=tenant.headers)).json()["data"]
    await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                      headers=tenant.headers, json={"text": "We will call at 3pm."})
    await run_jobs(db)
    [mail] = relay.received
    assert mail["To"] == "ann@customer.test"
    assert "We will call at 3pm." in mail.get_body(("plain",)).get_content()
    last = (await client.get(f"/api/v1/conversations/{conversation['id']}/messages",
                             headers=tenant.headers)).json()["data"][-1]
    assert last["status"] == "sent" and last["metadata"]["fallback_from"] == "webchat"
    assert last["channel_id"] == email.json()["id"]


async def test_foreign_origins_and_forged_tokens_are_refused(
        server: str, chat: dict[str, Any]) -> None:
    refused = await start(server, chat, origin="https://evil.test")
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "origin_not_allowed"
    token = (await start(server, chat)).json()["token"]
    with pytest.raises(InvalidStatus) as handshake:
        await connect(socket_url(server, chat, token),
                      origin="https://evil.test")  # type: ignore[arg-type]
    assert handshake.value.response.status_code == 403
    async with connect(socket_url(server, chat, token + "x"), origin=SITE) as ws:  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


async def test_hostile_and_oversized_frames_get_errors_not_crashes(
        server: str, chat: dict[str, Any]) -> None:
    token = (await start(server, chat)).json()["token"]
    async with connect(socket_url(server, chat, token), origin=SITE) as ws:  # type: ignore[arg-type]
        await frame(ws)
        for bad in ("not json", '{"type": "launch"}', "x" * 20_000,
                    '{"type": "message", "client_id": "c", "text": ""}'):
            await ws.send(bad)
            assert (await frame(ws))["type"] == "error"
        assert (await say(ws, "ok", "still here"))["type"] == "ack"


async def test_a_visitor_claiming_someones_email_does_not_become_them(
        server: str, chat: dict[str, Any], client: httpx.AsyncClient, tenant: Tenant) -> None:
    victim = await client.post("/api/v1/customers", headers=tenant.headers, json={
        "identities": [{"kind": "email", "value": "victim@customer.test"}],
        "traits": {"name": "Victim"}})
    assert victim.status_code == 201, victim.text
    token = (await start(server, chat, email="victim@customer.test",
                         name="Mallory")).json()["token"]
    async with connect(socket_url(server, chat, token), origin=SITE) as ws:  # type: ignore[arg-type]
        await frame(ws)
        await say(ws, "c1", "Send me the order details")
        await ws.send(orjson.dumps({"type": "identify", "email": "victim@customer.test"}).decode())
        await frame(ws)
    [conversation] = (await client.get("/api/v1/conversations",
                                       headers=tenant.headers)).json()["data"]
    assert conversation["customer_id"] != victim.json()["id"]
    after = await client.get(f"/api/v1/customers/{victim.json()['id']}", headers=tenant.headers)
    assert after.json()["traits"] == {"name": "Victim"}
    kinds = {i["kind"] for i in after.json()["identities"]}
    assert kinds == {"email"}  # no visitor id was attached to the victim
