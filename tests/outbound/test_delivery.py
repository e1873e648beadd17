"""Delivery: transient failures retried, permanent ones failed with the provider's reason,
a lost answer never resent blindly, and a crash mid-send reconciled or left for review."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from cxprism.channels.protocol import ANSWER_LOST, SendError
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.outbound.models import Send
from cxprism.outbound.statuses import give_up_stale
from cxprism.scheduler.models import Job
from tests.conversations.helpers import connector as chat_connector
from tests.conversations.helpers import drain_events, inbound, make_channel
from tests.fixtures.builders import Tenant
from tests.outbound.helpers import (
    LookupConnector,
    RecordingConnector,
    connect,
    consent,
    customer,
    get_send,
    installed,
    make_queued_jobs_due,
    run_jobs,
    sent_ok,
)


async def test_a_transient_failure_is_retried_and_then_sent(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    provider.failures.append(SendError("503 from the provider", transient=True))
    ann = await customer(client, tenant, email="ann@example.com")
    out = await sent_ok(client, tenant, ann, "receipt:1")
    await run_jobs(db, rounds=1)
    waiting = await get_send(client, tenant, out["id"])
    assert (waiting["status"], waiting["reason"]) == ("queued", "retrying")
    await make_queued_jobs_due(db)
    await run_jobs(db)
    final = await get_send(client, tenant, out["id"])
    assert final["status"] == "sent" and final["attempts"] == 2
    assert [h["status"] for h in final["history"]] == [
        "queued", "sending", "queued", "sending", "sent"]
    assert len(provider.sent) == 1


async def test_a_permanent_refusal_fails_with_the_providers_reason(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    provider.failures.append(SendError("21211: invalid 'To' number", transient=False,
                                       code="invalid_recipient"))
    bob = await customer(client, tenant, email="bob@example.com")
    out = await sent_ok(client, tenant, bob, "receipt:1")
    await run_jobs(db)
    final = await get_send(client, tenant, out["id"])
    assert (final["status"], final["reason"]) == ("failed", "invalid_recipient")
    assert "21211" in final["detail"]


async def test_a_lost_answer_is_unknown_and_only_a_person_resends(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    provider.failures.append(SendError("read timeout after the request", transient=True,
                                       code=ANSWER_LOST))
    cy = await customer(client, tenant, email="cy@example.com")
    out = await sent_ok(client, tenant, cy, "receipt:1")
    await run_jobs(db)
    await make_queued_jobs_due(db)
    await run_jobs(db)
    unknown = await get_send(client, tenant, out["id"])
    assert (unknown["status"], unknown["reason"]) == ("unknown", "outcome_unknown")
    assert provider.sent == []  # never retried on its own
    again = await client.post(f"/api/v1/outbound/sends/{out['id']}/resend",
                              headers=tenant.headers)
    assert again.status_code == 200 and again.json()["status"] == "queued"
    await run_jobs(db)
    assert (await get_send(client, tenant, out["id"]))["status"] == "sent"
    assert [m.idempotency_key for m in provider.sent] == [out["id"]]


async def _crash_mid_send(db: Database, send_id: str) -> None:
    """What a worker killed after committing ``sending`` leaves: the send in flight, its
    job running under a dead worker's lease, which has now expired."""
    async with db.session() as session:
        await session.execute(update(Send).where(Send.id == uuid.UUID(send_id))
                              .values(status="sending"))
        await session.execute(update(Job).values(status="queued", run_at=utcnow()))
        await session.commit()


async def test_a_send_caught_in_a_crash_is_not_resent_without_a_lookup(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    dee = await customer(client, tenant, email="dee@example.com")
    out = await sent_ok(client, tenant, dee, "receipt:1")
    await _crash_mid_send(db, out["id"])
    await run_jobs(db)
    final = await get_send(client, tenant, out["id"])
    assert (final["status"], final["reason"]) == ("unknown", "outcome_unknown")
    assert "offers no lookup" in final["detail"]
    assert provider.sent == []


async def test_a_crash_is_reconciled_by_a_provider_lookup(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(LookupConnector)
    assert isinstance(provider, LookupConnector)
    provider.received.clear()
    await connect(client, tenant, provider.kind)
    eve = await customer(client, tenant, email="eve@example.com")
    got_it = await sent_ok(client, tenant, eve, "receipt:1")
    never = await sent_ok(client, tenant, eve, "receipt:2")
    provider.received[got_it["id"]] = "ext-before-the-crash"  # the provider had it
    await _crash_mid_send(db, got_it["id"])
    await _crash_mid_send(db, never["id"])
    await run_jobs(db)
    first = await get_send(client, tenant, got_it["id"])
    second = await get_send(client, tenant, never["id"])
    assert (first["status"], first["external_id"]) == ("sent", "ext-before-the-crash")
    assert second["status"] == "sent"
    assert [m.idempotency_key for m in provider.sent] == [never["id"]]


async def test_provider_status_callbacks_move_a_send_forward_only(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    chat_connector()
    channel = await make_channel(client, tenant.headers)
    fox = await customer(client, tenant, email="fox@example.com")
    out = await sent_ok(client, tenant, fox, "receipt:1", channel_id=channel["id"])
    await run_jobs(db)
    sent = await get_send(client, tenant, out["id"])
    assert sent["status"] == "sent"
    for status in ("read", "delivered"):  # a late 'delivered' does not undo 'read'
        response = await inbound(client, channel, status_of=sent["external_id"], status=status)
        assert response.status_code == 200, response.text
    final = await get_send(client, tenant, out["id"])
    assert final["status"] == "read"
    assert [h["status"] for h in final["history"]][-2:] == ["sent", "read"]


async def test_a_reply_marks_the_send_answered_for_engagement(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    chat_connector()
    channel = await make_channel(client, tenant.headers)
    gil = await customer(client, tenant, email="gil@example.com")
    out = await sent_ok(client, tenant, gil, "survey:1", channel_id=channel["id"])
    await run_jobs(db)
    response = await inbound(client, channel, id="in-1", **{"from": "gil@example.com"},
                             text="Thanks!")
    assert response.status_code == 200, response.text
    await drain_events(db)
    assert (await get_send(client, tenant, out["id"]))["replied_at"] is not None


async def test_cancel_stops_a_queued_send(client: httpx.AsyncClient, db: Database,
                                          tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    hal = await customer(client, tenant, email="hal@example.com")
    out = await sent_ok(client, tenant, hal, "receipt:1")
    cancelled = await client.post(f"/api/v1/outbound/sends/{out['id']}/cancel",
                                  headers=tenant.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    await run_jobs(db)
    assert provider.sent == []
    again = await client.post(f"/api/v1/outbound/sends/{out['id']}/cancel",
                              headers=tenant.headers)
    assert again.status_code == 409


async def test_a_send_stuck_in_flight_is_given_up_as_unknown_not_resent(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    ola = await customer(client, tenant, email="ola@example.com")
    old = await sent_ok(client, tenant, ola, "receipt:old")
    recent = await sent_ok(client, tenant, ola, "receipt:recent")
    now = utcnow()
    async with db.session() as session:
        await session.execute(update(Send).where(Send.id == uuid.UUID(old["id"]))
                              .values(status="sending", updated_at=now - timedelta(hours=1)))
        await session.execute(update(Send).where(Send.id == uuid.UUID(recent["id"]))
                              .values(status="sending", updated_at=now))
        assert await give_up_stale(session, now) == 1
        await session.commit()
    stale = await get_send(client, tenant, old["id"])
    assert (stale["status"], stale["reason"]) == ("unknown", "outcome_unknown")
    assert (await get_send(client, tenant, recent["id"]))["status"] == "sending"
    assert provider.sent == []


async def test_sends_appear_on_the_customer_timeline(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    pam = await customer(client, tenant, email="pam@example.com")
    first = await sent_ok(client, tenant, pam, "receipt:1")
    second = await sent_ok(client, tenant, pam, "receipt:2")
    await run_jobs(db)
    response = await client.get(f"/api/v1/customers/{pam}/timeline", headers=tenant.headers)
    assert response.status_code == 200, response.text
    sends = [i["send"] for i in response.json()["data"] if i["kind"] == "send"]
    assert [(s["id"], s["status"]) for s in sends] == [(second["id"], "sent"),
                                                        (first["id"], "sent")]


async def test_sends_are_in_the_export_and_gone_with_the_erasure(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    quin = await customer(client, tenant, email="quin@example.com")
    out = await sent_ok(client, tenant, quin, "receipt:1",
                        content={"subject": "Hi", "text": "Your secret plan"})
    exported = await client.get(f"/api/v1/customers/{quin}/export", headers=tenant.headers)
    assert exported.status_code == 200, exported.text
    assert "Your secret plan" in exported.text and out["id"] in exported.text
    erased = await client.post(f"/api/v1/customers/{quin}/erase", headers=tenant.headers,
                               json={})
    assert erased.status_code in (200, 202), erased.text
    gone = await client.get(f"/api/v1/outbound/sends/{out['id']}", headers=tenant.headers)
    assert gone.status_code == 404
    async with db.session() as session:
        rows = (await session.execute(select(Send.text))).scalars().all()
    assert "Your secret plan" not in rows


async def test_agent_replies_spend_the_budget_and_respect_a_withdrawal(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    chat = chat_connector()
    chat.sent.clear()
    channel = await make_channel(client, tenant.headers)
    for number, person in enumerate(("rae@example.com", "sol@example.com")):
        response = await inbound(client, channel, id=f"in-{number}", text="help",
                                 **{"from": person})
        assert response.status_code == 200, response.text
    listed = (await client.get("/api/v1/conversations", headers=tenant.headers)).json()
    conversations = [c["id"] for c in listed["data"]]
    await client.put("/api/v1/outbound/budgets", headers=tenant.headers,
                     json={"medium": "email", "daily_limit": 1})

    async def reply_and_status(conversation_id: str) -> dict[str, object]:
        response = await client.post(f"/api/v1/conversations/{conversation_id}/replies",
                                     headers=tenant.headers, json={"text": "On it"})
        assert response.status_code == 202, response.text
        await run_jobs(db)
        thread = await client.get(f"/api/v1/conversations/{conversation_id}/messages",
                                  headers=tenant.headers)
        return dict(thread.json()["data"][-1])

    first = await reply_and_status(conversations[0])
    second = await reply_and_status(conversations[1])
    assert (first["status"], second["status"]) == ("sent", "failed")
    assert "budget" in str(second["status_history"])
    await client.put("/api/v1/outbound/budgets", headers=tenant.headers,
                     json={"medium": "email", "daily_limit": None})
    owner = next(c["customer_id"] for c in listed["data"] if c["id"] == conversations[0])
    await consent(client, tenant, owner, "email", "transactional", "withdrawn")
    third = await reply_and_status(conversations[0])
    assert third["status"] == "failed" and "withdrew" in str(third["status_history"])
    assert len(chat.sent) == 1
