"""The inbox end to end through a connector: inbound, threading, replies, statuses."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest
from sqlalchemy import func, select, update

from cxprism.channels.protocol import ANSWER_LOST, SendError
from cxprism.conversations.models import Message
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.scheduler.models import Job
from tests.conversations.helpers import (
    KIND,
    connector,
    inbound,
    make_channel,
    run_jobs,
    signed,
)
from tests.fixtures.builders import Tenant


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "svg", "iframe", "object", "embed", "style"):
            self.found.append(tag)
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                self.found.append(f"{tag}[{name}]")
            if name in ("href", "src") and not (value or "").startswith(("http", "mailto:",
                                                                         "cid:")):
                self.found.append(f"{tag}[{name}={value}]")


def runnable_parts(html: str) -> list[str]:
    """Elements and attributes a browser would run or load, as it parses ``html``."""
    parser = _Elements()
    parser.feed(html)
    return parser.found


async def message_count(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Message))).scalar_one())


@pytest.fixture
async def channel(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, object]:
    return await make_channel(client, tenant.headers)


async def conversations(client: httpx.AsyncClient, tenant: Tenant, **query: str) -> list[dict]:
    response = await client.get("/api/v1/conversations", headers=tenant.headers, params=query)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def messages(client: httpx.AsyncClient, tenant: Tenant, conversation_id: str) -> list[dict]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}/messages",
                                headers=tenant.headers)
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def test_inbound_lands_on_the_customers_conversation(
        client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, object]) -> None:
    response = await inbound(client, channel, id="m1", **{"from": "Ann@Example.com"},
                             text="Where is my order?", thread="t-1")
    assert response.status_code == 200, response.text
    [conversation] = await conversations(client, tenant)
    customer = await client.get(f"/api/v1/customers/{conversation['customer_id']}",
                                headers=tenant.headers)
    identities = {(i["kind"], i["value"]) for i in customer.json()["identities"]}
    assert ("email", "ann@example.com") in identities
    [message] = await messages(client, tenant, conversation["id"])
    assert message["text"] == "Where is my order?"
    assert (message["direction"], message["sender_type"]) == ("inbound", "customer")
    assert conversation["channel_kind"] == KIND and conversation["status"] == "open"


async def test_a_replayed_webhook_stores_one_message(
        client: httpx.AsyncClient, db: Database, channel: dict[str, object]) -> None:
    for _ in range(5):
        response = await inbound(client, channel, id="same", **{"from": "a@example.com"},
                                 text="hello")
        assert response.status_code == 200
    assert await message_count(db) == 1


async def test_a_bad_or_missing_signature_is_403_and_stores_nothing(
        client: httpx.AsyncClient, db: Database, channel: dict[str, object]) -> None:
    raw, headers = signed({"id": "x", "from": "a@example.com", "text": "hi"}, secret="wrong")
    url = f"/hooks/{KIND}/{channel['id']}"
    bad = await client.post(url, content=raw, headers=headers)
    missing = await client.post(url, content=raw, headers={"content-type": "application/json"})
    assert (bad.status_code, missing.status_code) == (403, 403)
    assert bad.json()["error"]["code"] == "invalid_signature"
    assert await message_count(db) == 0


async def test_an_unknown_or_disabled_channel_is_404(
        client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, object]) -> None:
    raw, headers = signed({"id": "x", "from": "a@example.com"})
    unknown = await client.post(f"/hooks/{KIND}/00000000-0000-4000-8000-000000000000",
                                content=raw, headers=headers)
    wrong_kind = await client.post(f"/hooks/email/{channel['id']}", content=raw, headers=headers)
    await client.patch(f"/api/v1/channels/{channel['id']}", headers=tenant.headers,
                       json={"is_active": False})
    disabled = await client.post(f"/hooks/{KIND}/{channel['id']}", content=raw, headers=headers)
    assert (unknown.status_code, wrong_kind.status_code, disabled.status_code) == (404, 404, 404)


async def test_messages_thread_by_key_and_by_reply_chain(
        client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, object]) -> None:
    await inbound(client, channel, id="a1", **{"from": "a@example.com"}, text="1", thread="k")
    await inbound(client, channel, id="a2", **{"from": "a@example.com"}, text="2", thread="k")
    await inbound(client, channel, id="a3", **{"from": "a@example.com"}, text="3", refs=["a1"])
    await inbound(client, channel, id="b1", **{"from": "a@example.com"}, text="new", thread="j")
    found = await conversations(client, tenant)
    assert sorted(c["message_count"] for c in found) == [1, 3]


async def test_hostile_content_is_neutralised_in_what_the_api_returns(
        client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, object]) -> None:
    hostile = ('<p onclick="steal()">Hi<script>alert(1)</script>'
               '<a href="javascript:alert(2)">x</a><svg onload="alert(3)"></svg>'
               '<img src="x" onerror="alert(4)"></p>')
    await inbound(client, channel, id="h1", **{"from": "a@example.com"}, text="<script>x</script>",
                  html=hostile)
    await inbound(client, channel, id="h2", **{"from": "a@example.com"},
                  text='<script>alert(1)</script><a href="javascript:x">y</a>')
    found = await conversations(client, tenant)
    assert len(found) == 2  # no thread named: each starts its own conversation
    for message in [m for c in found for m in await messages(client, tenant, c["id"])]:
        assert runnable_parts(message["html"]) == [], message["html"]


async def test_a_reply_is_queued_then_sent_through_the_connector(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        channel: dict[str, object]) -> None:
    chat = connector()
    chat.sent.clear()
    await inbound(client, channel, id="q1", **{"from": "a@example.com"}, text="help", thread="t")
    [conversation] = await conversations(client, tenant)
    reply = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                              headers=tenant.headers, json={"text": "On its way!"})
    assert reply.status_code == 202, reply.text
    assert reply.json()["status"] == "queued"
    assert chat.sent == []  # nothing leaves before the request's transaction commits
    assert await run_jobs(db) == 1
    [sent] = chat.sent
    assert (sent.to, sent.text, sent.in_reply_to) == ("a@example.com", "On its way!", "q1")
    assert sent.idempotency_key == reply.json()["id"]
    after = (await messages(client, tenant, conversation["id"]))[-1]
    assert after["status"] == "sent" and after["external_id"].startswith("out-")
    assert await run_jobs(db) == 0  # sent once


async def test_status_callbacks_move_forward_only(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        channel: dict[str, object]) -> None:
    await inbound(client, channel, id="s1", **{"from": "a@example.com"}, text="hi")
    [conversation] = await conversations(client, tenant)
    await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                      headers=tenant.headers, json={"text": "hello"})
    await run_jobs(db)
    sent = (await messages(client, tenant, conversation["id"]))[-1]
    for status in ("delivered", "read", "sent", "delivered"):
        await inbound(client, channel, status_of=sent["external_id"], status=status)
    final = (await messages(client, tenant, conversation["id"]))[-1]
    assert final["status"] == "read"
    assert [h["status"] for h in final["status_history"]] == ["queued", "sent", "delivered",
                                                              "read"]


async def test_transient_failures_retry_and_permanent_ones_fail(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        channel: dict[str, object]) -> None:
    chat = connector()
    await inbound(client, channel, id="f1", **{"from": "a@example.com"}, text="hi")
    [conversation] = await conversations(client, tenant)
    chat.failures[:] = [SendError("rejected number", transient=False, code="21211")]
    await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                      headers=tenant.headers, json={"text": "hello"})
    await run_jobs(db)
    failed = (await messages(client, tenant, conversation["id"]))[-1]
    assert failed["status"] == "failed" and "21211" in failed["status_reason"]


async def test_an_empty_reply_is_refused(
        client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, object]) -> None:
    await inbound(client, channel, id="n1", **{"from": "a@example.com"}, text="hi")
    [conversation] = await conversations(client, tenant)
    empty = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                              headers=tenant.headers, json={"text": "  "})
    assert empty.status_code == 422 and empty.json()["error"]["details"]["field"] == "text"


async def test_a_reply_on_a_channel_the_customer_cannot_be_reached_on_is_refused(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        channel: dict[str, object]) -> None:
    sms = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": "twilio_sms", "name": "SMS", "config": {
            "account_sid": "AC" + "1" * 32, "auth_token": "0123456789abcdef" * 2,
            "phone_number": "+14155550100"}})
    assert sms.status_code == 201, sms.text
    await inbound(client, channel, id="n2", **{"from": "a@example.com"}, text="hi")
    [conversation] = await conversations(client, tenant)
    refused = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                                headers=tenant.headers,
                                json={"text": "hello", "channel_id": sms.json()["id"]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "no_recipient"
    assert await run_jobs(db) == 0  # nothing was queued


async def test_notes_status_assignment_tags_and_filters(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        channel: dict[str, object]) -> None:
    await inbound(client, channel, id="x2", **{"from": "b@example.com"}, text="2", thread="2")
    await inbound(client, channel, id="x1", **{"from": "a@example.com"}, text="1", thread="1")
    first, second = await conversations(client, tenant)  # the latest activity first
    url = f"/api/v1/conversations/{first['id']}"
    note = await client.post(f"{url}/notes", headers=tenant.headers, json={"text": "VIP"})
    assert note.status_code == 201 and note.json()["kind"] == "note"
    changed = await client.patch(url, headers=tenant.headers, json={
        "status": "pending", "assignee_id": str(tenant.admin_id), "add_tags": ["billing"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["status"], changed.json()["tags"]) == ("pending", ["billing"])
    foreign = await client.patch(url, headers=tenant.headers,
                                 json={"assignee_id": str(other_tenant.admin_id)})
    assert foreign.status_code == 404
    by_tag = await conversations(client, tenant, tag="billing")
    mine = await conversations(client, tenant, assignee_id=str(tenant.admin_id))
    unassigned = await conversations(client, tenant, unassigned="true")
    assert [c["id"] for c in by_tag] == [c["id"] for c in mine] == [first["id"]]
    assert [c["id"] for c in unassigned] == [second["id"]]
    snooze = await client.patch(url, headers=tenant.headers, json={"status": "snoozed"})
    assert snooze.status_code == 422  # snoozing needs a time
    await inbound(client, channel, id="x3", **{"from": "a@example.com"}, text="3", thread="1")
    reopened = await client.get(url, headers=tenant.headers)
    assert reopened.json()["status"] == "open"  # the customer wrote again


async def test_bulk_changes_are_all_or_nothing(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        channel: dict[str, object]) -> None:
    await inbound(client, channel, id="y1", **{"from": "a@example.com"}, thread="1")
    await inbound(client, channel, id="y2", **{"from": "b@example.com"}, thread="2")
    ids = [c["id"] for c in await conversations(client, tenant)]
    done = await client.post("/api/v1/conversations/bulk", headers=tenant.headers,
                             json={"ids": ids, "update": {"status": "resolved"}})
    assert done.status_code == 200, done.text
    assert {c["status"] for c in await conversations(client, tenant)} == {"resolved"}
    mixed = await client.post("/api/v1/conversations/bulk", headers=tenant.headers, json={
        "ids": [*ids, "00000000-0000-4000-8000-000000000000"], "update": {"status": "open"}})
    assert mixed.status_code == 404
    assert {c["status"] for c in await conversations(client, tenant)} == {"resolved"}


async def test_merging_moves_messages_and_points_the_source_at_the_target(
        client: httpx.AsyncClient, tenant: Tenant, channel: dict[str, object]) -> None:
    await inbound(client, channel, id="z1", **{"from": "a@example.com"}, thread="1")
    await inbound(client, channel, id="z2", **{"from": "a@example.com"}, thread="2")
    target, source = await conversations(client, tenant)
    merged = await client.post(f"/api/v1/conversations/{target['id']}/merge",
                               headers=tenant.headers, json={"source_id": source["id"]})
    assert merged.status_code == 200, merged.text
    assert merged.json()["message_count"] == 2
    assert len(await messages(client, tenant, target["id"])) == 2
    gone = await client.get(f"/api/v1/conversations/{source['id']}", headers=tenant.headers)
    assert gone.json()["merged_into_id"] == target["id"]
    again = await client.post(f"/api/v1/conversations/{target['id']}/merge",
                              headers=tenant.headers, json={"source_id": source["id"]})
    assert again.status_code == 409
    # Messages on the merged-away thread land on the target, by reply chain or thread.
    await inbound(client, channel, id="z3", **{"from": "a@example.com"}, refs=["z2"])
    await inbound(client, channel, id="z4", **{"from": "a@example.com"}, thread="2")
    assert len(await messages(client, tenant, target["id"])) == 4


async def test_a_lost_answer_is_marked_unknown_never_resent(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        channel: dict[str, object]) -> None:
    chat = connector()
    chat.sent.clear()
    await inbound(client, channel, id="u1", **{"from": "a@example.com"}, text="hi")
    [conversation] = await conversations(client, tenant)
    chat.failures[:] = [SendError("read timeout", transient=True, code=ANSWER_LOST)]
    await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                      headers=tenant.headers, json={"text": "hello"})
    await run_jobs(db)
    await make_jobs_due(db)
    assert await run_jobs(db) == 0
    last = (await messages(client, tenant, conversation["id"]))[-1]
    assert last["status"] == "unknown" and "not resent" in last["status_reason"]
    assert chat.sent == []


async def test_a_transient_failure_is_retried_and_then_sent(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        channel: dict[str, object]) -> None:
    chat = connector()
    chat.sent.clear()
    await inbound(client, channel, id="r1", **{"from": "a@example.com"}, text="hi")
    [conversation] = await conversations(client, tenant)
    chat.failures[:] = [SendError("429 slow down", transient=True, retry_after=1.0)]
    await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                      headers=tenant.headers, json={"text": "hello"})
    await run_jobs(db)
    assert (await messages(client, tenant, conversation["id"]))[-1]["status"] == "queued"
    await make_jobs_due(db)
    await run_jobs(db)
    assert (await messages(client, tenant, conversation["id"]))[-1]["status"] == "sent"
    assert [m.text for m in chat.sent] == ["hello"]


async def make_jobs_due(db: Database) -> None:
    async with db.session() as session:
        await session.execute(update(Job).values(run_at=utcnow()))
        await session.commit()
