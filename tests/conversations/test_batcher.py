"""Concurrent deliveries share commits, and one that cannot be stored fails alone."""

from __future__ import annotations

import asyncio

import httpx

from cxprism.kit.db import Database
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
