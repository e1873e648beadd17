"""Concurrent deliveries share commits, and one that cannot be stored fails alone."""

from __future__ import annotations

import asyncio
import uuid
from types import SimpleNamespace
from typing import Any

import httpx
from sqlalchemy import select

from cxprism.channels.protocol import Address, InboundMessage, WebhookResult
from cxprism.channels.service import ChannelService
from cxprism.config import Settings
from cxprism.conversations.batcher import InboundBatcher
from cxprism.conversations.models import Message
from cxprism.customers.service import CustomerService
from cxprism.kit.db import Database
from cxprism.kit.storage import LocalStorage
from tests.conversations.helpers import inbound, make_channel
from tests.conversations.test_inbox import message_count
from tests.fixtures.builders import Tenant


async def test_concurrent_webhooks_are_all_stored_and_a_bad_one_fails_alone(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    channel = await make_channel(client, tenant.headers)
    good = [inbound(client, channel, id=f"m{n}", text=f"hello {n}", thread=f"t{n % 5}",
                    **{"from": f"person{n % 7}@example.com"}) for n in range(40)]
    bad = inbound(client, channel, id="bad", text="x", **{"from": "not an address"})
    *answers, refused = await asyncio.gather(*good, bad)
    assert {a.status_code for a in answers} == {200}
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_payload"
    assert await message_count(db) == 40
    listed = await client.get("/api/v1/conversations", headers=tenant.headers,
                              params={"limit": 100})
    # Each (person, thread) pair is one conversation, however the commits were grouped.
    pairs = {(n % 7, n % 5) for n in range(40)}
    assert len(listed.json()["data"]) == len(pairs)


async def test_a_merge_inside_a_batch_sends_later_items_to_the_live_profile(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings) -> None:
    channel = await make_channel(client, tenant.headers)
    for email in ("ann@example.com", "ann.work@example.com"):
        created = await client.post("/api/v1/customers", headers=tenant.headers, json={
            "identities": [{"kind": "email", "value": email}]})
        assert created.status_code == 201, created.text
    async with db.session() as session:
        opened = await ChannelService(session, tenant.workspace_id).open(
            uuid.UUID(channel["id"]))

    def item(n: int, *emails: str) -> InboundMessage:
        return InboundMessage(external_id=f"b{n}", sender=[Address("email", e) for e in emails],
                              text=f"item {n}", thread_key=f"t{n}")

    batch = WebhookResult(messages=[
        item(1, "ann.work@example.com"),
        item(2, "ann@example.com", "ann.work@example.com"),  # one person after all: merged
        item(3, "ann.work@example.com")])
    await InboundBatcher(db, LocalStorage(settings.storage_dir)).store([(opened, batch)])
    async with db.session() as session:
        rows = (await session.execute(select(Message).order_by(Message.external_id))).scalars()
        owners = {m.external_id: m.customer_id for m in rows}
        live = await CustomerService(session, tenant.workspace_id).get(owners["b3"])
    assert live.merged_into_id is None  # never a merged-away profile
    assert owners["b2"] == owners["b3"] == live.id


async def test_a_delivery_queued_as_the_flusher_finishes_is_not_left_waiting() -> None:
    """The flusher answers a delivery and ends; another request queues its delivery in the
    same turn of the event loop. It must get a flusher of its own."""
    loop = asyncio.get_running_loop()
    commit_done, second_ready = loop.create_future(), loop.create_future()

    class HeldBatcher(InboundBatcher):
        async def _commit_with_retries(self, batch: list[Any]) -> list[Exception | None]:
            await commit_done
            return [None] * len(batch)

    batcher = HeldBatcher(SimpleNamespace(dialect="sqlite"), None)  # type: ignore[arg-type]
    first = asyncio.create_task(batcher.store([]))
    await asyncio.sleep(0)

    async def second_request() -> None:
        await second_ready  # its body arrived in the same turn the first commit ended
        await batcher.store([])

    second = asyncio.create_task(second_request())
    await asyncio.sleep(0)
    loop.call_soon(lambda: (commit_done.set_result(None), second_ready.set_result(None)))
    await first
    await asyncio.wait_for(second, timeout=10)  # a guard against the hang, not a measurement


async def test_first_messages_of_one_thread_in_concurrent_commits_share_a_conversation(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings) -> None:
    channel = await make_channel(client, tenant.headers)
    async with db.session() as session:
        opened = await ChannelService(session, tenant.workspace_id).open(
            uuid.UUID(channel["id"]))
    known = await client.post("/api/v1/customers", headers=tenant.headers, json={
        "identities": [{"kind": "email", "value": "zoe@example.com"}]})
    assert known.status_code == 201
    # Separate batchers: separate transactions, committing at the same time.
    batchers = [InboundBatcher(db, LocalStorage(settings.storage_dir)) for _ in range(6)]
    await asyncio.gather(*(b.store([(opened, WebhookResult(messages=[InboundMessage(
        external_id=f"c{n}", sender=[Address("email", "zoe@example.com")], text=f"{n}",
        thread_key="zoe-thread")]))]) for n, b in enumerate(batchers)))
    listed = await client.get("/api/v1/conversations", headers=tenant.headers)
    [conversation] = listed.json()["data"]
    assert conversation["message_count"] == 6
