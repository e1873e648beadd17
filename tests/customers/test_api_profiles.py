"""Profiles over HTTP: create/identify, get, lookup, search, update, attach, merge."""

from __future__ import annotations

import uuid

import httpx
import pytest

from cxprism.customers.models import Customer, CustomerIdentity
from cxprism.kit.db import Database
from cxprism.workspaces.permissions import Role
from tests.customers.helpers import BASE, count, create, email, events_of, ext
from tests.fixtures.builders import Tenant, api_key_for


async def test_create_then_identify_resolves_to_the_same_profile(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    first = await create(client, tenant.headers, email("  Ann@Example.COM "),
                         traits={"plan": "gold"}, timezone="Europe/Paris", locale="en_gb")
    assert first["identities"][0]["value"] == "ann@example.com"
    assert first["locale"] == "en-GB"
    again = await create(client, tenant.headers, email("ann@example.com"),
                         {"kind": "phone", "value": "020 7946 0018", "region": "GB"},
                         traits={"tier": 2}, expect=200)
    assert again["id"] == first["id"]
    assert again["traits"] == {"plan": "gold", "tier": 2}
    assert {(i["kind"], i["value"]) for i in again["identities"]} == {
        ("email", "ann@example.com"), ("phone", "+442079460018")}
    assert await count(db, Customer, tenant.workspace_id) == 1
    types = [e.type for e in await events_of(db, tenant.workspace_id)]
    assert "customer.created" in types and "customer.updated" in types
    for event in await events_of(db, tenant.workspace_id):
        assert "ann@example.com" not in str(event.payload)  # ids only in the ledger


async def test_identify_joining_two_profiles_merges_into_the_oldest(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    old = await create(client, tenant.headers, email("a@example.com"), traits={"x": 1})
    new = await create(client, tenant.headers, {"kind": "anonymous_id", "value": "anon-1"},
                       traits={"x": 2, "y": 3})
    merged = await create(client, tenant.headers, email("a@example.com"),
                          {"kind": "anonymous_id", "value": "anon-1"}, expect=200)
    assert merged["id"] == old["id"]
    assert merged["merged_from"] == [new["id"]]
    assert merged["traits"] == {"x": 2, "y": 3}  # the more recent value of x wins
    via_old_id = await client.get(f"{BASE}/{new['id']}", headers=tenant.headers)
    assert via_old_id.status_code == 200
    assert via_old_id.json()["id"] == old["id"]
    assert via_old_id.json()["requested_id"] == new["id"]
    merged_events = await events_of(db, tenant.workspace_id, "customer.merged")
    assert [e.payload["loser_id"] for e in merged_events] == [new["id"]]


async def test_two_external_ids_are_never_merged(client: httpx.AsyncClient,
                                                 tenant: Tenant, db: Database) -> None:
    await create(client, tenant.headers, ext("u-1"), email("shared@example.com"))
    await create(client, tenant.headers, ext("u-2"))
    response = await client.post(BASE, headers=tenant.headers, json={"identities": [
        ext("u-2"), email("shared@example.com")]})
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "identity_conflict"
    assert error["details"]["external_ids"] == ["u-1", "u-2"]
    assert await count(db, Customer, tenant.workspace_id) == 2
    assert await count(db, CustomerIdentity, tenant.workspace_id) == 3


async def test_lookup_by_any_identity(client: httpx.AsyncClient, tenant: Tenant) -> None:
    made = await create(client, tenant.headers,
                        {"kind": "social", "namespace": "Twitter", "value": "@Ann_X"})
    found = await client.get(f"{BASE}/lookup", headers=tenant.headers, params={
        "kind": "social", "namespace": "twitter", "value": "ann_x"})
    assert found.status_code == 200 and found.json()["id"] == made["id"]
    missing = await client.get(f"{BASE}/lookup", headers=tenant.headers, params={
        "kind": "email", "value": "nobody@example.com"})
    assert missing.status_code == 404
    bad = await client.get(f"{BASE}/lookup", headers=tenant.headers, params={
        "kind": "email", "value": "not-an-email"})
    assert bad.status_code == 422


async def test_search_by_identity_trait_and_pages(client: httpx.AsyncClient,
                                                  tenant: Tenant) -> None:
    ids = [(await create(client, tenant.headers, email(f"p{n}@shop.example"),
                         traits={"plan": "gold" if n % 2 else "free"}))["id"] for n in range(5)]
    await create(client, tenant.headers, email("other@else.example"))
    exact = await client.get(BASE, headers=tenant.headers, params={
        "identity_kind": "email", "identity_value": "P3@Shop.Example"})
    assert [c["id"] for c in exact.json()["data"]] == [ids[3]]
    page1 = await client.get(BASE, headers=tenant.headers, params={
        "identity_kind": "email", "identity_value": "p", "match": "prefix", "limit": 3})
    assert [c["id"] for c in page1.json()["data"]] == ids[:3]
    page2 = await client.get(BASE, headers=tenant.headers, params={
        "identity_kind": "email", "identity_value": "p", "match": "prefix", "limit": 3,
        "cursor": page1.json()["next_cursor"]})
    assert [c["id"] for c in page2.json()["data"]] == ids[3:]
    assert page2.json()["next_cursor"] is None
    gold = await client.get(BASE, headers=tenant.headers, params={"trait": "plan:gold"})
    assert [c["id"] for c in gold.json()["data"]] == [ids[1], ids[3]]
    bad = await client.get(BASE, headers=tenant.headers, params={"trait": "no-colon"})
    assert bad.status_code == 422


async def test_update_patches_traits_and_null_deletes(client: httpx.AsyncClient,
                                                      tenant: Tenant, db: Database) -> None:
    made = await create(client, tenant.headers, email("u@example.com"),
                        traits={"a": 1, "b": 2}, timezone="UTC")
    response = await client.patch(f"{BASE}/{made['id']}", headers=tenant.headers, json={
        "traits": {"a": None, "c": [1, 2]}, "timezone": None, "locale": "fr-ca"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["traits"] == {"b": 2, "c": [1, 2]}
    assert body["timezone"] is None and body["locale"] == "fr-CA"
    updated = await events_of(db, tenant.workspace_id, "customer.updated")
    assert set(updated[-1].payload["fields"]) == {"traits.a", "traits.c", "timezone", "locale"}


async def test_attach_identities_merges_the_other_owner_into_the_target(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    target = await create(client, tenant.headers, email("t@example.com"))
    other = await create(client, tenant.headers, {"kind": "webchat_visitor_id", "value": "v9"})
    response = await client.post(f"{BASE}/{target['id']}/identities", headers=tenant.headers,
                                 json={"identities": [
                                     {"kind": "webchat_visitor_id", "value": " v9 "}]})
    assert response.status_code == 200, response.text
    assert response.json()["id"] == target["id"]
    assert response.json()["merged_from"] == [other["id"]]


async def test_explicit_merge_and_its_permissions(client: httpx.AsyncClient, tenant: Tenant,
                                                  db: Database) -> None:
    a = await create(client, tenant.headers, email("a@example.com"))
    b = await create(client, tenant.headers, email("b@example.com"))
    c = await create(client, tenant.headers, email("c@example.com"))
    analyst = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.ANALYST)}"}
    denied = await client.post(f"{BASE}/merge", headers=analyst,
                               json={"winner_id": a["id"], "loser_id": b["id"]})
    assert denied.status_code == 403
    merged = await client.post(f"{BASE}/merge", headers=tenant.headers,
                               json={"winner_id": b["id"], "loser_id": a["id"]})
    assert merged.status_code == 200 and merged.json()["id"] == b["id"]
    # c absorbs b: a (merged earlier into b) now points straight at c.
    await client.post(f"{BASE}/merge", headers=tenant.headers,
                      json={"winner_id": c["id"], "loser_id": b["id"]})
    async with db.session() as session:
        row = await session.get(Customer, uuid.UUID(a["id"]))
        assert row is not None and str(row.merged_into_id) == c["id"]
    again = await client.post(f"{BASE}/merge", headers=tenant.headers,
                              json={"winner_id": a["id"], "loser_id": c["id"]})
    assert again.status_code == 200 and again.json()["id"] == c["id"]  # already one profile
    same = await client.post(f"{BASE}/merge", headers=tenant.headers,
                             json={"winner_id": a["id"], "loser_id": a["id"]})
    assert same.status_code == 422


@pytest.mark.parametrize(("body", "field"), [
    ({"identities": [{"kind": "email", "value": "nope"}]}, "identities.0"),
    ({"identities": [{"kind": "phone", "value": "12345"}]}, "identities.0"),
    ({"identities": [{"kind": "phone", "value": "+1 555 0100"}]}, "identities.0"),
    ({"identities": [{"kind": "fax", "value": "1"}]}, "identities.0.kind"),
    ({"identities": [{"kind": "social", "value": "ann"}]}, "identities.0"),
    ({"identities": []}, "identities"),
    ({"identities": [{"kind": "email", "value": "a@b.co"}], "workspace_id": "x"},
     "workspace_id"),
    ({"identities": [{"kind": "email", "value": "a@b.co"}], "id": "x"}, "id"),
    ({"identities": [{"kind": "email", "value": "a@b.co"}], "timezone": "Mars/Base"},
     "timezone"),
    ({"identities": [{"kind": "email", "value": "a@b.co"}], "locale": "english"}, "locale"),
    ({"identities": [{"kind": "email", "value": "a@b.co"}], "traits": {"bad key": 1}},
     "traits"),
])
async def test_bad_input_is_a_clear_422_and_writes_nothing(
        client: httpx.AsyncClient, tenant: Tenant, db: Database, body: dict[str, object],
        field: str) -> None:
    response = await client.post(BASE, headers=tenant.headers, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert any(d["field"] == field for d in error["details"]), error
    assert await count(db, Customer, tenant.workspace_id) == 0


async def test_other_workspace_sees_404_and_owns_its_own_identities(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = await create(client, tenant.headers, email("same@example.com"))
    theirs = await create(client, other_tenant.headers, email("same@example.com"))
    assert theirs["id"] != mine["id"]  # same value, two workspaces: two customers
    foreign = other_tenant.headers
    cid = mine["id"]
    for method, path, body in [
        ("GET", f"{BASE}/{cid}", None), ("PATCH", f"{BASE}/{cid}", {"traits": {"a": 1}}),
        ("POST", f"{BASE}/{cid}/identities", {"identities": [email("z@example.com")]}),
        ("GET", f"{BASE}/{cid}/consent", None),
        ("POST", f"{BASE}/{cid}/consent", {"channel": "email", "purpose": "marketing",
                                           "status": "granted", "source": "web_form"}),
        ("GET", f"{BASE}/{cid}/export", None),
        ("POST", f"{BASE}/{cid}/erase", {"suppress": True}),
        ("POST", f"{BASE}/merge", {"winner_id": theirs["id"], "loser_id": cid}),
    ]:
        response = await client.request(method, path, headers=foreign, json=body)
        assert response.status_code == 404, (method, path, response.text)
    listed = await client.get(BASE, headers=foreign)
    assert [c["id"] for c in listed.json()["data"]] == [theirs["id"]]
    still = await client.get(f"{BASE}/{cid}", headers=tenant.headers)
    assert still.status_code == 200 and still.json()["traits"] == {}


async def test_roles(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    made = await create(client, tenant.headers, email("r@example.com"))
    analyst = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.ANALYST)}"}
    agent = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.AGENT)}"}
    assert (await client.get(f"{BASE}/{made['id']}", headers=analyst)).status_code == 200
    write = await client.post(BASE, headers=analyst, json={"identities": [email("n@e.co")]})
    assert write.status_code == 403
    assert (await client.patch(f"{BASE}/{made['id']}", headers=analyst,
                               json={"traits": {"a": 1}})).status_code == 403
    assert (await client.post(BASE, headers=agent,
                              json={"identities": [email("n@e.co")]})).status_code == 201
    assert (await client.post(f"{BASE}/{made['id']}/erase", headers=agent,
                              json={})).status_code == 403
    assert (await client.get(f"{BASE}/{made['id']}/export", headers=agent)).status_code == 403
    assert (await client.get(BASE)).status_code == 401
