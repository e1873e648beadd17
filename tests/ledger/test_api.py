"""The ledger through its API: events become entries once, receipts and consistency
bundles verify offline with the published key, checkpoints refuse a rewritten log."""

from __future__ import annotations

import httpx

from cxprism.kit.db import Database
from cxprism.ledger.checkpoint import parse_verifier_key
from cxprism.ledger.receipts import verify_bundle, verify_receipt
from tests.fixtures.builders import Tenant
from tests.ledger.helpers import add_customers, get_json, relay_all


async def test_ledgered_events_become_entries_with_receipts_that_verify(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_customers(client, tenant, 3)
    await relay_all(db)
    entries = (await get_json(client, tenant, "/entries"))["data"]
    types = [e["event_type"] for e in entries]
    # The tenant's admin and API key, then three consent grants.
    assert types == ["user.created", "api_key.created"] + ["consent.changed"] * 3
    assert [e["index"] for e in entries] == list(range(5))
    key = parse_verifier_key((await get_json(client, tenant, "/key"))["verifier_key"])
    for entry in entries:
        receipt = await get_json(client, tenant, f"/entries/{entry['index']}/receipt")
        checked = verify_receipt(receipt, key)
        assert checked.entry["event"]["id"] == str(entry["event_id"])
        by_event = await get_json(client, tenant, f"/events/{entry['event_id']}/receipt")
        assert verify_receipt(by_event, key).index == entry["index"]


async def test_consistency_between_two_checkpoints_verifies(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_customers(client, tenant, 2)
    await relay_all(db)
    first = await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)
    assert first.status_code == 201, first.text
    await add_customers(client, tenant, 5, first=2)
    await relay_all(db)
    second = await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)
    old, new = first.json()["size"], second.json()["size"]
    assert (old, new) == (4, 9)
    bundle = await get_json(client, tenant, f"/consistency?old={old}&new={new}")
    key = parse_verifier_key((await get_json(client, tenant, "/key"))["verifier_key"])
    assert [c.size for c in verify_bundle(bundle, key)] == [4, 9]
