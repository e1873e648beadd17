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


async def test_receipts_for_many_entries_at_once_each_verify_against_one_checkpoint(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_customers(client, tenant, 6)
    await relay_all(db)
    key = parse_verifier_key((await get_json(client, tenant, "/key"))["verifier_key"])
    asked = [7, 0, 3, 7, 5]  # any order; a repeat is answered once
    response = await client.post("/api/v1/ledger/receipts", headers=tenant.headers,
                                 json={"indices": asked})
    assert response.status_code == 200, response.text
    receipts = response.json()["receipts"]
    assert [r["index"] for r in receipts] == [7, 0, 3, 5]
    assert len({r["checkpoint"] for r in receipts}) == 1
    for receipt in receipts:
        single = await get_json(client, tenant, f"/entries/{receipt['index']}/receipt")
        assert verify_receipt(receipt, key).entry == verify_receipt(single, key).entry
        assert receipt["inclusion_proof"] == single["inclusion_proof"]


async def test_receipts_refuse_unknown_entries_and_bad_requests_clearly(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_customers(client, tenant, 1)
    await relay_all(db)
    url = "/api/v1/ledger/receipts"
    missing = await client.post(url, headers=tenant.headers, json={"indices": [0, 999, 998]})
    assert missing.status_code == 404
    assert missing.json()["error"]["details"]["missing"] == [999, 998]
    for body in ({"indices": []}, {"indices": [-1]}, {"indices": list(range(1001))},
                 {"indices": [0], "extra": 1}, {"indices": ["x"]}):
        refused = await client.post(url, headers=tenant.headers, json=body)
        assert refused.status_code == 422, body
