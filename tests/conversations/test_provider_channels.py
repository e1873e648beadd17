"""Twilio SMS and WhatsApp, WhatsApp Cloud, voice and social, end to end through the app:
inbound on the right customer's conversation, replies out through the provider (a local
fake speaking its documented API), status callbacks, replays and bad signatures."""

from __future__ import annotations

import time
from typing import Any

import httpx
import orjson
import pytest
from standardwebhooks.webhooks import Webhook

from cxprism.config import Settings
from cxprism.kit.db import Database
from tests.conversations.helpers import run_jobs
from tests.conversations.test_inbox import message_count
from tests.fixtures.builders import Tenant
from tests.fixtures.fake_meta import FakeMeta, fake_meta, status_event, text_message
from tests.fixtures.fake_twilio import FAKE_PHONE_NUMBER, FakeTwilio, fake_twilio

__all__ = ["fake_meta", "fake_twilio"]
SOCIAL_SECRET = "whsec_" + "c2VjcmV0LXNvY2lhbC1zaWduaW5nLWtleQ=="


async def connect(client: httpx.AsyncClient, tenant: Tenant, kind: str,
                  config: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/channels", headers=tenant.headers,
                                 json={"kind": kind, "name": kind, "config": config})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def only_conversation(client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
    [conversation] = (await client.get("/api/v1/conversations",
                                       headers=tenant.headers)).json()["data"]
    return dict(conversation)


async def thread(client: httpx.AsyncClient, tenant: Tenant, conversation_id: str) -> list[Any]:
    return list((await client.get(f"/api/v1/conversations/{conversation_id}/messages",
                                  headers=tenant.headers)).json()["data"])


async def identities(client: httpx.AsyncClient, tenant: Tenant, customer_id: str) -> set[Any]:
    body = (await client.get(f"/api/v1/customers/{customer_id}", headers=tenant.headers)).json()
    return {(i["kind"], i.get("namespace", ""), i["value"]) for i in body["identities"]}


def hook(channel: dict[str, Any]) -> str:
    return f"/hooks/{channel['kind']}/{channel['id']}"


async def test_sms_in_reply_out_status_back(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    channel = await connect(client, tenant, "twilio_sms", fake_twilio.config())
    path = hook(channel)
    signed = settings.base_url + path
    params = fake_twilio.inbound_params("My parcel is late", sender="+14155550177")
    for _ in range(5):  # Twilio retrying a webhook it thinks failed
        response = await fake_twilio.post_signed(client, path, params, signed_url=signed)
        assert response.status_code == 200 and b"<Response" in response.content
    assert await message_count(db) == 1
    conversation = await only_conversation(client, tenant)
    assert ("phone", "", "+14155550177") in await identities(client, tenant,
                                                             conversation["customer_id"])
    reply = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                              headers=tenant.headers, json={"text": "It ships today."})
    assert reply.status_code == 202, reply.text
    await run_jobs(db)
    [sent] = [r for r in fake_twilio.requests if r.path.endswith("/Messages.json")]
    assert (sent.field("To"), sent.field("From"), sent.field("Body")) == (
        "+14155550177", FAKE_PHONE_NUMBER, "It ships today.")
    out = (await thread(client, tenant, conversation["id"]))[-1]
    assert out["status"] == "sent" and out["external_id"].startswith("SM")
    for status in ("delivered", "sent"):  # a late "sent" does not undo "delivered"
        await fake_twilio.send_status_callback(client, path, out["external_id"], status,
                                               signed_url=signed)
    assert (await thread(client, tenant, conversation["id"]))[-1]["status"] == "delivered"


async def test_a_bad_twilio_signature_is_403_and_stores_nothing(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    channel = await connect(client, tenant, "twilio_sms", fake_twilio.config())
    params = fake_twilio.inbound_params("hi")
    wrong_url = await fake_twilio.post_signed(client, hook(channel), params,
                                              signed_url="https://elsewhere.example/x")
    unsigned = await client.post(hook(channel), data=dict(params))
    assert (wrong_url.status_code, unsigned.status_code) == (403, 403)
    assert await message_count(db) == 0


async def test_whatsapp_via_twilio_respects_the_24_hour_window(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    channel = await connect(client, tenant, "twilio_whatsapp", fake_twilio.config())
    params = fake_twilio.inbound_params("Hola", whatsapp=True, sender="+34600111222",
                                        to=fake_twilio.config()["whatsapp_number"])
    await fake_twilio.post_signed(client, hook(channel), params,
                                  signed_url=settings.base_url + hook(channel))
    conversation = await only_conversation(client, tenant)
    url = f"/api/v1/conversations/{conversation['id']}/replies"
    inside = await client.post(url, headers=tenant.headers, json={"text": "¡Hola!"})
    assert inside.status_code == 202
    await run_jobs(db)
    sent = [r for r in fake_twilio.requests if r.path.endswith("/Messages.json")][-1]
    assert sent.field("To") == "whatsapp:+34600111222"
    async with db.session() as session:  # the customer wrote 25 hours ago
        from sqlalchemy import text
        await session.execute(text("UPDATE conversations SET last_inbound_at = :at"),
                              {"at": _hours_ago(25)})
        await session.commit()
    closed = await client.post(url, headers=tenant.headers, json={"text": "Still there?"})
    assert closed.status_code == 422
    assert closed.json()["error"]["code"] == "whatsapp_window_closed"
    template = await client.post(url, headers=tenant.headers, json={"template": {
        "name": "HX" + "0" * 32, "language": "es", "parameters": ["Ana"]}})
    assert template.status_code == 202, template.text


def _hours_ago(hours: float) -> Any:
    from datetime import UTC, datetime, timedelta
    return datetime.now(UTC) - timedelta(hours=hours)


async def test_whatsapp_cloud_handshake_messages_and_statuses(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, fake_meta: FakeMeta) -> None:
    channel = await connect(client, tenant, "whatsapp_cloud", fake_meta.config())
    path = hook(channel)
    config = fake_meta.config()
    challenge = await client.get(path, params={"hub.mode": "subscribe", "hub.challenge": "8917",
                                               "hub.verify_token": config["verify_token"]})
    assert (challenge.status_code, challenge.text) == (200, "8917")
    wrong = await client.get(path, params={"hub.mode": "subscribe", "hub.challenge": "1",
                                           "hub.verify_token": "guess"})
    assert wrong.status_code == 403
    inbound = fake_meta.notification(messages=[text_message("4915112345678", "Hallo!")],
                                     contacts=[("4915112345678", "Jonas")])
    for _ in range(5):
        assert (await fake_meta.post_webhook(client, path, inbound)).status_code == 200
    body, headers = fake_meta.signed_webhook(inbound)
    tampered = await client.post(path, content=body.replace(b"Hallo", b"Hallx"), headers=headers)
    assert tampered.status_code == 403
    assert await message_count(db) == 1
    conversation = await only_conversation(client, tenant)
    reply = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                              headers=tenant.headers, json={"text": "Guten Tag!"})
    assert reply.status_code == 202
    await run_jobs(db)
    [call] = [r for r in fake_meta.requests if r.path.endswith("/messages")]
    assert call.json["to"] == "4915112345678" and call.json["text"]["body"] == "Guten Tag!"
    out = (await thread(client, tenant, conversation["id"]))[-1]
    read = fake_meta.notification(statuses=[status_event(out["external_id"], "read",
                                                         "4915112345678")])
    await fake_meta.post_webhook(client, path, read)
    assert (await thread(client, tenant, conversation["id"]))[-1]["status"] == "read"


async def test_twilio_call_records_become_call_messages(
        client: httpx.AsyncClient, tenant: Tenant, settings: Settings,
        fake_twilio: FakeTwilio) -> None:
    config = {k: v for k, v in fake_twilio.config().items()
              if k in ("account_sid", "auth_token", "phone_number")}
    channel = await connect(client, tenant, "twilio_voice", config)
    params = [("AccountSid", fake_twilio.account_sid), ("CallSid", "CA" + "1" * 32),
              ("CallStatus", "completed"), ("Direction", "inbound"), ("From", "+14155550188"),
              ("To", FAKE_PHONE_NUMBER), ("CallDuration", "192"), ("ApiVersion", "2010-04-01"),
              ("RecordingUrl", "https://api.twilio.com/2010-04-01/Accounts/x/Recordings/RE1")]
    response = await fake_twilio.post_signed(client, hook(channel), params,
                                             signed_url=settings.base_url + hook(channel))
    assert response.status_code == 200, response.text
    conversation = await only_conversation(client, tenant)
    [call] = await thread(client, tenant, conversation["id"])
    assert call["kind"] == "call" and call["metadata"]["duration_seconds"] == 192


def standard_signed(secret: str, payload: dict[str, Any], msg_id: str) -> tuple[bytes, dict]:
    body = orjson.dumps(payload)
    now = int(time.time())
    signature = Webhook(secret).sign(msg_id, _at(now), body.decode())
    return body, {"webhook-id": msg_id, "webhook-timestamp": str(now),
                  "webhook-signature": signature, "content-type": "application/json"}


def _at(epoch: int) -> Any:
    from datetime import UTC, datetime
    return datetime.fromtimestamp(epoch, UTC)


async def test_generic_voice_calls_with_transcripts(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    channel = await connect(client, tenant, "voice", {
        "name_of_system": "Genesys", "phone_number": "+442071838750",
        "inbound_secret": SOCIAL_SECRET})
    record = {"call_id": "call-1", "direction": "inbound", "from": "+447911123456",
              "to": "+442071838750", "started_at": "2026-11-24T09:00:00Z",
              "duration_seconds": 95, "status": "completed", "transcript": {
                  "language": "en", "turns": [
                      {"speaker": "customer", "start": 0.0, "end": 3.0, "text": "My router died."},
                      {"speaker": "agent", "start": 3.5, "end": 6.0, "text": "Let me help."}]}}
    body, headers = standard_signed(SOCIAL_SECRET, record, "msg_call_1")
    assert (await client.post(hook(channel), content=body, headers=headers)).status_code == 200
    conversation = await only_conversation(client, tenant)
    [call] = await thread(client, tenant, conversation["id"])
    assert "My router died." in call["text"]
    assert len(call["metadata"]["transcript"]["turns"]) == 2
    forged = dict(headers, **{"webhook-signature": "v1,AAAA"})
    assert (await client.post(hook(channel), content=body, headers=forged)).status_code == 403


async def test_social_reviews_arrive_and_replies_go_out_signed(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    channel = await connect(client, tenant, "social", {
        "network": "trustpilot", "account": "acme", "inbound_secret": SOCIAL_SECRET})
    review = {"type": "review", "id": "r-1", "network": "trustpilot", "rating": 2,
              "author": {"handle": "@JaneD", "name": "Jane"}, "text": "Late again <script>x",
              "url": "https://www.trustpilot.com/reviews/r-1", "public": True,
              "created_at": "2026-11-23T10:00:00Z"}
    body, headers = standard_signed(SOCIAL_SECRET, {"items": [review, {"type": "post"}]},
                                    "msg_social_1")
    response = await client.post(hook(channel), content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1 and response.json()["rejected"][0]["index"] == 1
    conversation = await only_conversation(client, tenant)
    [item] = await thread(client, tenant, conversation["id"])
    assert item["kind"] == "review" and item["metadata"]["rating"] == 2
    assert "<script" not in item["html"]
    assert ("social", "trustpilot", "janed") in await identities(
        client, tenant, conversation["customer_id"])
    reply = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                              headers=tenant.headers, json={"text": "Sorry, Jane."})
    assert reply.status_code == 202
    await run_jobs(db)
    out = (await thread(client, tenant, conversation["id"]))[-1]
    assert out["status"] == "failed"  # no reply URL configured: said plainly
    assert "reply URL" in out["status_reason"]


@pytest.mark.parametrize("kind", ["twilio_sms", "whatsapp_cloud"])
async def test_webhooks_for_a_channel_of_another_kind_are_404(
        client: httpx.AsyncClient, tenant: Tenant, fake_twilio: FakeTwilio,
        fake_meta: FakeMeta, kind: str) -> None:
    config = fake_twilio.config() if kind == "twilio_sms" else fake_meta.config()
    channel = await connect(client, tenant, kind, config)
    other = "whatsapp_cloud" if kind == "twilio_sms" else "twilio_sms"
    response = await client.post(f"/hooks/{other}/{channel['id']}", content=b"{}")
    assert response.status_code == 404
