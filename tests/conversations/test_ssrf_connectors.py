"""Channels and the SSRF guard, through the API and the send job.

An admin cannot save a channel URL that points at a private, loopback or link-local
address (422, naming the field). A channel that points there anyway (saved before the
rule, or under a wider allowlist: written straight into the table here) still receives,
and its replies fail at once, for good, with ``unsafe_destination``: the job is not
retried, and a real listener at that address is never connected to.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cxprism.channels.models import Channel
from cxprism.config import Settings, get_settings
from cxprism.conversations.replies import SEND_JOB
from cxprism.kit.db import Database
from cxprism.scheduler.models import Job, JobStatus
from tests.channels.social.helpers import INBOUND_SECRET, signed_request
from tests.channels.ssrf import (
    UNSAFE_URLS,
    URL_FIELDS,
    config_with,
    listening,
    production_allowlist,
)
from tests.conversations.helpers import run_jobs
from tests.fixtures.builders import Tenant
from tests.fixtures.fake_twilio import FakeTwilio

__all__ = ["production_allowlist"]
PRIVATE_HOST = "127.0.0.2"  # loopback, and outside the tests' allowlist (127.0.0.1/32)


async def _create(client: httpx.AsyncClient, tenant: Tenant, kind: str,
                  config: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/v1/channels", headers=tenant.headers,
                             json={"kind": kind, "name": kind, "config": config})


def _assert_refused(response: httpx.Response, field: str, why: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    [problem] = error["details"]
    assert problem["field"] == field and why in problem["reason"]
    assert f"{field}: " in error["message"] and why in error["message"]


@pytest.mark.usefixtures("production_allowlist")
@pytest.mark.parametrize(("url", "why"), UNSAFE_URLS)
@pytest.mark.parametrize(("kind", "field"), URL_FIELDS)
async def test_an_unsafe_url_is_refused_naming_the_field(
        client: httpx.AsyncClient, tenant: Tenant, kind: str, field: str, url: str,
        why: str) -> None:
    response = await _create(client, tenant, kind, config_with(kind, **{field: url}))
    _assert_refused(response, field, why)


async def test_the_allowlist_lets_the_local_fakes_through_and_only_them(
        client: httpx.AsyncClient, tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    refused = await _create(client, tenant, "twilio_sms",
                            config_with("twilio_sms", api_base=f"http://{PRIVATE_HOST}:9"))
    _assert_refused(refused, "api_base", "loopback")
    monkeypatch.setattr(get_settings(), "outbound_http_allow", "")
    local = config_with("twilio_sms", api_base="http://127.0.0.1:9")
    _assert_refused(await _create(client, tenant, "twilio_sms", local), "api_base", "loopback")
    monkeypatch.undo()  # the tests' allowlist again: 127.0.0.1/32
    assert (await _create(client, tenant, "twilio_sms", local)).status_code == 201


async def test_an_update_to_an_unsafe_url_is_refused_and_changes_nothing(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await _create(client, tenant, "social", config_with("social"))
    assert created.status_code == 201, created.text
    url = f"/api/v1/channels/{created.json()['id']}"
    response = await client.patch(url, headers=tenant.headers,
                                  json={"config": {"reply_url": "http://169.254.169.254/"}})
    _assert_refused(response, "reply_url", "link-local")
    stored = (await client.get(url, headers=tenant.headers)).json()["config"]
    assert stored["reply_url"] == "https://bridge.example.com/replies"


# --- a stored channel that points at a refused address ---------------------------------

async def _point_at(db: Database, channel_id: str, field: str, url: str) -> None:
    """What the API refuses, written straight into the table (a channel saved earlier)."""
    async with db.session() as session:
        channel = await session.get(Channel, uuid.UUID(channel_id))
        assert channel is not None
        channel.config = {**channel.config, field: url}
        await session.commit()


async def _twilio_inbound(client: httpx.AsyncClient, settings: Settings,
                          channel: dict[str, Any]) -> httpx.Response:
    path = f"/hooks/twilio_sms/{channel['id']}"
    twilio = FakeTwilio()  # only signs: nothing is served
    return await twilio.post_signed(client, path, twilio.inbound_params("Where is my parcel?"),
                                    signed_url=settings.base_url + path)


async def _social_inbound(client: httpx.AsyncClient, settings: Settings,
                          channel: dict[str, Any]) -> httpx.Response:
    review = {"type": "review", "id": "r-1", "network": "twitter", "rating": 1,
              "author": {"handle": "@JaneD"}, "text": "Late again",
              "created_at": "2026-11-23T10:00:00Z"}
    request = signed_request(review, INBOUND_SECRET, msg_id="msg_ssrf_1")
    return await client.post(f"/hooks/social/{channel['id']}", content=request.body,
                             headers=request.headers)


INBOUND = {"twilio_sms": ("api_base", _twilio_inbound), "social": ("reply_url", _social_inbound)}


async def _send_job(db: Database) -> Job:
    async with db.session() as session:
        return (await session.execute(select(Job).where(Job.kind == SEND_JOB))).scalar_one()


@pytest.mark.parametrize("kind", INBOUND)
async def test_a_reply_to_a_refused_destination_fails_at_once_and_reaches_nothing(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings,
        kind: str) -> None:
    field, post_inbound = INBOUND[kind]
    created = await _create(client, tenant, kind, config_with(kind))
    assert created.status_code == 201, created.text
    channel = created.json()
    async with listening(PRIVATE_HOST) as listener:
        await _point_at(db, channel["id"], field, f"https://{PRIVATE_HOST}:{listener.port}/x")
        # The channel still opens: its webhooks keep arriving.
        assert (await post_inbound(client, settings, channel)).status_code == 200
        [conversation] = (await client.get("/api/v1/conversations",
                                           headers=tenant.headers)).json()["data"]
        replies = f"/api/v1/conversations/{conversation['id']}/replies"
        reply = await client.post(replies, headers=tenant.headers, json={"text": "Sorry!"})
        assert reply.status_code == 202, reply.text
        await run_jobs(db)
        assert await listener.settled_connections() == 0
    messages = f"/api/v1/conversations/{conversation['id']}/messages"
    out = (await client.get(messages, headers=tenant.headers)).json()["data"][-1]
    assert out["status"] == "failed"
    assert out["status_reason"].startswith("unsafe_destination: ")
    assert f"{PRIVATE_HOST} is a loopback address" in out["status_reason"]
    job = await _send_job(db)
    assert (job.status, job.attempts) == (JobStatus.SUCCEEDED.value, 1)  # not retried
