"""Each rule suppresses or defers a message with its reason, and the message goes out
once the rule allows it: consent, quiet hours, frequency caps, budgets, the kill switch."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select

from cxprism.bus.models import OutboxEvent
from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.outbound.helpers import (
    RecordingConnector,
    RecordingSms,
    connect,
    consent,
    customer,
    get_send,
    installed,
    make_queued_jobs_due,
    run_jobs,
    send,
    sent_ok,
)


async def test_transactional_needs_no_consent_but_a_withdrawal_blocks_it(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    alice = await customer(client, tenant, email="alice@example.com")
    first = await sent_ok(client, tenant, alice, "receipt:1")
    await run_jobs(db)
    assert (await get_send(client, tenant, first["id"]))["status"] == "sent"
    await consent(client, tenant, alice, "email", "transactional", "withdrawn")
    blocked = await sent_ok(client, tenant, alice, "receipt:2")
    assert (blocked["status"], blocked["reason"]) == ("suppressed", "consent_withdrawn")
    assert [m.idempotency_key for m in provider.sent] == [first["id"]]


async def test_marketing_needs_a_grant_and_goes_once_granted(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    bob = await customer(client, tenant, email="bob@example.com")
    refused = await sent_ok(client, tenant, bob, "promo:1", purpose="marketing")
    assert (refused["status"], refused["reason"]) == ("suppressed", "no_consent")
    assert "has not consented to marketing on email" in refused["detail"]
    await consent(client, tenant, bob, "email", "marketing")
    allowed = await sent_ok(client, tenant, bob, "promo:2", purpose="marketing")
    await run_jobs(db)
    assert (await get_send(client, tenant, allowed["id"]))["status"] == "sent"
    assert len(provider.sent) == 1


async def test_consent_withdrawn_after_queueing_stops_the_send_at_delivery(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    carol = await customer(client, tenant, email="carol@example.com")
    await consent(client, tenant, carol, "email", "marketing")
    queued = await sent_ok(client, tenant, carol, "promo:1", purpose="marketing")
    assert queued["status"] == "queued"
    await consent(client, tenant, carol, "email", "marketing", "withdrawn")
    await run_jobs(db)
    final = await get_send(client, tenant, queued["id"])
    assert (final["status"], final["reason"]) == ("suppressed", "consent_withdrawn")
    assert provider.sent == []


def _window_around_now(zone_offset_hours: int) -> dict[str, str]:
    local = datetime.now(UTC) + timedelta(hours=zone_offset_hours)
    start, end = local - timedelta(hours=1), local + timedelta(hours=1)
    return {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}


async def test_quiet_hours_defer_in_the_customers_timezone_and_the_message_waits(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    # Tokyo is UTC+9 all year: quiet hours around the customer's local now.
    dan = await customer(client, tenant, email="dan@example.com", timezone="Asia/Tokyo")
    await consent(client, tenant, dan, "email", "marketing")
    response = await client.patch("/api/v1/outbound/policy", headers=tenant.headers,
                                  json={"quiet_hours": _window_around_now(9)})
    assert response.status_code == 200, response.text
    held = await sent_ok(client, tenant, dan, "promo:1", purpose="marketing")
    assert (held["status"], held["reason"]) == ("deferred", "quiet_hours")
    assert "Asia/Tokyo" in held["detail"]
    receipt = await sent_ok(client, tenant, dan, "receipt:1")  # transactional is not held
    assert receipt["status"] == "queued"
    await run_jobs(db)
    assert [m.idempotency_key for m in provider.sent] == [receipt["id"]]
    # The quiet hours end (here: are moved away from now); the same message goes out.
    await client.patch("/api/v1/outbound/policy", headers=tenant.headers,
                       json={"quiet_hours": _window_around_now(9 + 6)})
    await make_queued_jobs_due(db)
    await run_jobs(db)
    final = await get_send(client, tenant, held["id"])
    assert final["status"] == "sent"
    assert [h["status"] for h in final["history"]] == ["deferred", "sending", "sent"]


async def test_quiet_hours_do_not_hold_a_customer_whose_local_time_is_outside(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    erin = await customer(client, tenant, email="erin@example.com", timezone="Asia/Tokyo")
    await consent(client, tenant, erin, "email", "marketing")
    await client.patch("/api/v1/outbound/policy", headers=tenant.headers,
                       json={"quiet_hours": _window_around_now(0), "timezone": "UTC"})
    # Quiet around UTC now; in Tokyo it is 9 hours later, outside the window.
    out = await sent_ok(client, tenant, erin, "promo:1", purpose="marketing")
    assert out["status"] == "queued"


async def test_a_message_that_would_expire_in_quiet_hours_is_not_sent_late(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    fay = await customer(client, tenant, email="fay@example.com")
    await consent(client, tenant, fay, "email", "marketing")
    await client.patch("/api/v1/outbound/policy", headers=tenant.headers,
                       json={"quiet_hours": _window_around_now(0)})
    soon = (datetime.now(UTC) + timedelta(minutes=10)).isoformat()
    out = await sent_ok(client, tenant, fay, "flash-sale:1", purpose="marketing",
                        expires_at=soon)
    assert (out["status"], out["reason"]) == ("suppressed", "expired")


async def test_frequency_caps_suppress_beyond_the_limit(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    gus = await customer(client, tenant, email="gus@example.com")
    await consent(client, tenant, gus, "email", "marketing")
    await client.patch("/api/v1/outbound/policy", headers=tenant.headers, json={
        "caps": [{"limit": 2, "hours": 24, "purpose": "marketing", "medium": "email"}]})
    first = await sent_ok(client, tenant, gus, "promo:1", purpose="marketing")
    second = await sent_ok(client, tenant, gus, "promo:2", purpose="marketing")
    third = await sent_ok(client, tenant, gus, "promo:3", purpose="marketing")
    assert [first["status"], second["status"]] == ["queued", "queued"]
    assert (third["status"], third["reason"]) == ("suppressed", "frequency_cap")
    assert "2 per 24 h" in third["detail"]
    receipt = await sent_ok(client, tenant, gus, "receipt:1")  # another purpose: not capped
    assert receipt["status"] == "queued"
    await client.patch("/api/v1/outbound/policy", headers=tenant.headers, json={
        "caps": [{"limit": 3, "hours": 24, "purpose": "marketing"}]})
    fourth = await sent_ok(client, tenant, gus, "promo:4", purpose="marketing")
    assert fourth["status"] == "queued"
    await run_jobs(db)
    assert len(provider.sent) == 4


async def test_the_daily_budget_refuses_clearly_and_allows_again_when_raised(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingSms)
    await connect(client, tenant, provider.kind)
    hal = await customer(client, tenant, phone="+14155550123")
    response = await client.put("/api/v1/outbound/budgets", headers=tenant.headers,
                                json={"medium": "sms", "daily_limit": 2})
    assert response.status_code == 200, response.text
    sends = [await sent_ok(client, tenant, hal, f"otp:{i}", channel="sms") for i in range(3)]
    assert all(s["status"] == "queued" for s in sends)  # the budget is spent at delivery
    await run_jobs(db)
    finals = [await get_send(client, tenant, s["id"]) for s in sends]
    assert sorted(f["status"] for f in finals) == ["sent", "sent", "suppressed"]
    [over] = [f for f in finals if f["status"] == "suppressed"]
    assert over["reason"] == "budget_exceeded" and "budget of 2" in over["detail"]
    budgets = (await client.get("/api/v1/outbound/budgets", headers=tenant.headers)).json()
    assert budgets["data"][0]["used_today"] == 2
    late = await sent_ok(client, tenant, hal, "otp:late", channel="sms")
    assert (late["status"], late["reason"]) == ("suppressed", "budget_exceeded")
    await client.put("/api/v1/outbound/budgets", headers=tenant.headers,
                     json={"medium": "sms", "daily_limit": 3})
    again = await sent_ok(client, tenant, hal, "otp:again", channel="sms")
    await run_jobs(db)
    assert (await get_send(client, tenant, again["id"]))["status"] == "sent"
    assert len(provider.sent) == 3


async def test_the_kill_switch_holds_marketing_and_releases_it_on_resume(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    ivy = await customer(client, tenant, email="ivy@example.com")
    await consent(client, tenant, ivy, "email", "marketing")
    queued = await sent_ok(client, tenant, ivy, "promo:queued-before", purpose="marketing")
    response = await client.post("/api/v1/outbound/marketing/pause", headers=tenant.headers,
                                 json={"reason": "wrong price in the campaign"})
    assert response.status_code == 200 and response.json()["marketing_paused"] is True
    held = await sent_ok(client, tenant, ivy, "promo:during", purpose="marketing")
    assert (held["status"], held["reason"]) == ("deferred", "marketing_paused")
    receipt = await sent_ok(client, tenant, ivy, "receipt:during")
    await run_jobs(db)
    # Queued before the pause, it is held at delivery too; the receipt goes out.
    before = await get_send(client, tenant, queued["id"])
    assert (before["status"], before["reason"]) == ("deferred", "marketing_paused")
    assert [m.idempotency_key for m in provider.sent] == [receipt["id"]]
    resumed = await client.post("/api/v1/outbound/marketing/resume", headers=tenant.headers)
    assert resumed.status_code == 200 and resumed.json()["released"] == 2
    await run_jobs(db)
    assert sorted(m.idempotency_key or "" for m in provider.sent) == sorted(
        [receipt["id"], queued["id"], held["id"]])


async def test_the_same_cause_sends_once(client: httpx.AsyncClient, db: Database,
                                         tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    jo = await customer(client, tenant, email="jo@example.com")
    first = await send(client, tenant, jo, "order:42:shipped")
    again = await send(client, tenant, jo, "order:42:shipped")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    await run_jobs(db)
    assert len(provider.sent) == 1


async def test_a_customer_without_an_address_on_the_medium_is_suppressed(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    provider = installed(RecordingSms)
    await connect(client, tenant, provider.kind)
    kim = await customer(client, tenant, email="kim@example.com")
    out = await sent_ok(client, tenant, kim, "otp:1", channel="sms")
    assert (out["status"], out["reason"]) == ("suppressed", "no_address")
    none = await sent_ok(client, tenant, kim, "otp:2", channel="whatsapp")
    assert (none["status"], none["reason"]) == ("suppressed", "no_channel")


async def test_each_state_is_announced_with_the_sends_own_id(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    lee = await customer(client, tenant, email="lee@example.com")
    out = await sent_ok(client, tenant, lee, "receipt:1")
    await run_jobs(db)
    async with db.session() as session:
        rows = (await session.execute(select(OutboxEvent).where(
            OutboxEvent.type.like("outbound.%")).order_by(OutboxEvent.seq))).scalars().all()
    assert [(e.type, e.payload["send_id"]) for e in rows] == [
        ("outbound.queued", out["id"]), ("outbound.sent", out["id"])]
    assert rows[0].payload["customer_id"] == lee


async def test_a_batch_keeps_its_good_items_and_reports_each_bad_one(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    may = await customer(client, tenant, email="may@example.com")
    await sent_ok(client, tenant, may, "news:0", content={"subject": "News", "text": "x"})
    item = {"customer_id": may, "purpose": "transactional", "channel": "email",
            "content": {"subject": "News", "text": "Hello"}}
    response = await client.post("/api/v1/outbound/sends/batch", headers=tenant.headers,
                                 json={"sends": [
                                     {**item, "cause": "news:1"},
                                     {**item, "cause": "news:2", "channel": "sms"},
                                     {**item, "cause": "news:3", "template": "missing",
                                      "content": None},
                                     {**item, "cause": "news:0"},  # sent before: not again
                                     {**item, "cause": "news:1"}]})  # twice in the batch
    assert response.status_code == 200, response.text
    items = response.json()["data"]
    assert [i["created"] for i in items] == [True, True, False, False, False]
    assert items[1]["send"]["reason"] == "no_channel"  # a suppression is not an error
    assert items[2]["error"]["code"] == "template_not_found" and items[2]["send"] is None
    assert items[4]["send"]["id"] == items[0]["send"]["id"]
    await run_jobs(db)
    assert sorted(m.subject or "" for m in provider.sent) == ["News", "News"]
    unknown = await client.post("/api/v1/outbound/sends/batch", headers=tenant.headers,
                                json={"sends": [{**item, "cause": "news:4"}, {
                                    **item, "cause": "news:5", "customer_id": str(
                                        uuid.uuid4())}]})
    assert unknown.status_code == 404 and unknown.json()["error"]["details"]["index"] == 1
    listed = await client.get("/api/v1/outbound/sends?cause=news:4", headers=tenant.headers)
    assert listed.json()["data"] == []  # refused whole: nothing of it stored
