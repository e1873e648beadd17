"""Consent, export, erasure, suppression and crypto-shredding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cxprism.customers.models import ConsentEvent, Customer, CustomerIdentity, Suppression
from cxprism.customers.service import CustomerService
from cxprism.kit.db import Database
from cxprism.kit.errors import Gone
from cxprism.kit.idempotency import IdempotencyRecord
from tests.customers.helpers import BASE, count, create, email, events_of
from tests.fixtures.builders import Tenant


def consent(status: str, source: str = "web_form", occurred_at: str | None = None,
            channel: str = "email", purpose: str = "marketing") -> dict[str, str]:
    body = {"channel": channel, "purpose": purpose, "status": status, "source": source}
    if occurred_at is not None:
        body["occurred_at"] = occurred_at
    return body


async def test_consent_current_and_history(client: httpx.AsyncClient, tenant: Tenant,
                                           db: Database) -> None:
    cid = (await create(client, tenant.headers, email("c@example.com")))["id"]
    url = f"{BASE}/{cid}/consent"
    granted = await client.post(url, headers=tenant.headers, json=consent("granted"))
    assert granted.status_code == 201, granted.text
    await client.post(url, headers=tenant.headers, json=consent("withdrawn", "unsubscribe_link"))
    # An imported decision from last year is history, not the current state.
    last_year = (datetime.now(UTC) - timedelta(days=365)).isoformat()
    await client.post(url, headers=tenant.headers,
                      json=consent("granted", "import:crm", last_year))
    await client.post(url, headers=tenant.headers,
                      json=consent("granted", "checkout", channel="sms", purpose="transactional"))
    current = (await client.get(url, headers=tenant.headers)).json()
    assert current["history"] is None
    assert {(c["channel"], c["purpose"], c["status"], c["source"]) for c in current["data"]} == {
        ("email", "marketing", "withdrawn", "unsubscribe_link"),
        ("sms", "transactional", "granted", "checkout")}
    history = (await client.get(url, headers=tenant.headers, params={"history": "true"})).json()
    assert [h["source"] for h in history["history"]] == [
        "import:crm", "web_form", "unsubscribe_link", "checkout"]
    changed = await events_of(db, tenant.workspace_id, "consent.changed")
    assert [e.payload["status"] for e in changed] == ["granted", "withdrawn", "granted"]


@pytest.mark.parametrize("body", [
    consent("granted", occurred_at=(datetime.now(UTC) + timedelta(days=1)).isoformat()),
    consent("granted", occurred_at="2024-01-01T10:00:00"),  # no offset: ambiguous
    consent("maybe"),
    {**consent("granted"), "channel": "fax"},
    {**consent("granted"), "purpose": "spam"},
    consent("granted", source="Signed up at the Paris store with Jane"),
    {**consent("granted"), "recorded_at": "2024-01-01T10:00:00Z"},
])
async def test_bad_consent_is_422_and_writes_nothing(client: httpx.AsyncClient, tenant: Tenant,
                                                     db: Database, body: dict[str, str]) -> None:
    cid = (await create(client, tenant.headers, email("c@example.com")))["id"]
    response = await client.post(f"{BASE}/{cid}/consent", headers=tenant.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"
    assert await count(db, ConsentEvent, tenant.workspace_id) == 0


async def test_consent_survives_a_merge_most_recent_wins(client: httpx.AsyncClient,
                                                         tenant: Tenant) -> None:
    a = (await create(client, tenant.headers, email("a@example.com")))["id"]
    b = (await create(client, tenant.headers, email("b@example.com")))["id"]
    await client.post(f"{BASE}/{b}/consent", headers=tenant.headers, json=consent("granted"))
    await client.post(f"{BASE}/{a}/consent", headers=tenant.headers, json=consent("withdrawn"))
    await client.post(f"{BASE}/{b}/consent", headers=tenant.headers,
                      json=consent("granted", channel="push", purpose="service"))
    merged = await client.post(f"{BASE}/merge", headers=tenant.headers,
                               json={"winner_id": b, "loser_id": a})
    assert merged.status_code == 200
    listed = (await client.get(f"{BASE}/{a}/consent", headers=tenant.headers,
                               params={"history": True})).json()
    assert {(c["channel"], c["status"]) for c in listed["data"]} == {
        ("email", "withdrawn"), ("push", "granted")}
    assert len(listed["history"]) == 3


async def test_export_contains_profile_identities_consent_lineage_and_requests(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    a = (await create(client, tenant.headers, email("a@example.com"), traits={"n": 1}))["id"]
    b = (await create(client, tenant.headers, email("b@example.com")))["id"]
    await client.post(f"{BASE}/{a}/consent", headers=tenant.headers, json=consent("granted"))
    await client.post(f"{BASE}/merge", headers=tenant.headers,
                      json={"winner_id": a, "loser_id": b})
    response = await client.get(f"{BASE}/{b}/export", headers=tenant.headers)
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["customer"]["id"] == a and data["customer"]["traits"] == {"n": 1}
    assert {i["value"] for i in data["identities"]} == {"a@example.com", "b@example.com"}
    assert [c["status"] for c in data["consent"]["current"]] == ["granted"]
    assert len(data["consent"]["history"]) == 1
    assert [m["id"] for m in data["merged_from"]] == [b]
    assert [(r["kind"], r["id"]) for r in data["data_subject_requests"]] == [
        ("export", data["request_id"])]


async def test_erase_with_suppress(client: httpx.AsyncClient, tenant: Tenant,
                                   db: Database) -> None:
    a = (await create(client, tenant.headers, email("gone@example.com"),
                      {"kind": "phone", "value": "+14155552671"}, traits={"name": "G"}))["id"]
    b = (await create(client, tenant.headers, email("alias@example.com")))["id"]
    await client.post(f"{BASE}/merge", headers=tenant.headers, json={"winner_id": a, "loser_id": b})
    await client.post(f"{BASE}/{a}/consent", headers=tenant.headers, json=consent("granted"))
    async with db.session() as session:
        sealed = await CustomerService(session, tenant.workspace_id).encrypt_for(
            uuid.UUID(a), b"call transcript")
        await session.commit()

    erased = await client.post(f"{BASE}/{b}/erase", headers=tenant.headers,
                               json={"suppress": True})  # a merged-away id erases the person
    assert erased.status_code == 200, erased.text
    assert erased.json()["kind"] == "erase" and erased.json()["customer_id"] == a

    assert (await client.get(f"{BASE}/{a}", headers=tenant.headers)).status_code == 410
    assert (await client.get(f"{BASE}/{b}", headers=tenant.headers)).status_code == 410
    assert await count(db, CustomerIdentity, tenant.workspace_id) == 0
    assert await count(db, Suppression, tenant.workspace_id) == 3
    async with db.session() as session:
        tombstone = await session.get(Customer, uuid.UUID(a))
        assert tombstone is not None and tombstone.erased_at is not None
        assert tombstone.traits == {} and tombstone.trait_updated_at == {}
        with pytest.raises(Gone):
            await CustomerService(session, tenant.workspace_id).decrypt_for(sealed)
    # Suppressed: the same person (any spelling of their identities) is refused.
    again = await client.post(BASE, headers=tenant.headers,
                              json={"identities": [email(" Gone@Example.com")]})
    assert again.status_code == 410 and again.json()["error"]["code"] == "suppressed"
    assert await count(db, Customer, tenant.workspace_id) == 2
    async with db.session() as session:
        rows = (await session.execute(Suppression.__table__.select())).all()
        assert all("gone@example.com" not in str(row) for row in rows)
    erased_events = await events_of(db, tenant.workspace_id, "customer.erased")
    assert erased_events[0].payload["merged_ids"] == [b]
    assert "gone@" not in str(erased_events[0].payload)


async def test_erase_without_suppress_lets_the_person_come_back(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    a = (await create(client, tenant.headers, email("back@example.com")))["id"]
    response = await client.post(f"{BASE}/{a}/erase", headers=tenant.headers, json={})
    assert response.status_code == 200 and response.json()["suppress"] is False
    assert (await client.post(f"{BASE}/{a}/erase", headers=tenant.headers,
                              json={})).status_code == 410
    fresh = await create(client, tenant.headers, email("back@example.com"))
    assert fresh["id"] != a


async def test_data_keys_round_trip_and_survive_merges(db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        service = CustomerService(session, tenant.workspace_id)
        from cxprism.customers.identities import normalise

        a = await service.identify([normalise("email", "k1@example.com")])
        b = await service.identify([normalise("email", "k2@example.com")])
        sealed_b = await service.encrypt_for(b.id, b"for b")
        await service.merge(a.id, b.id)
        sealed_a = await service.encrypt_for(b.id, b"for a, via b's old id")
        assert await service.decrypt_for(sealed_b) == b"for b"
        assert await service.decrypt_for(sealed_a) == b"for a, via b's old id"
        assert sealed_a[:16] == a.id.bytes
        await session.commit()


@pytest.mark.parametrize("suppress", [True, False])
async def test_erasure_forgets_stored_responses_that_would_replay_the_person(
        client: httpx.AsyncClient, tenant: Tenant, db: Database, suppress: bool) -> None:
    def keyed(key: str) -> dict[str, str]:
        return {**tenant.headers, "Idempotency-Key": key}

    person = {"identities": [email("replay@example.com")], "traits": {"name": "Replay Me"}}
    first = await client.post(BASE, headers=keyed("create-person"), json=person)
    assert first.status_code == 201, first.text
    a = first.json()["id"]
    b = (await create(client, tenant.headers, email("alias-r@example.com")))["id"]
    merge = {"winner_id": b, "loser_id": a}
    assert (await client.post(f"{BASE}/merge", headers=keyed("merge"), json=merge)).is_success
    bystander = {"identities": [email("bystander@example.com")]}
    kept = await client.post(BASE, headers=keyed("create-bystander"), json=bystander)

    erased = await client.post(f"{BASE}/{a}/erase", headers=tenant.headers,
                               json={"suppress": suppress})
    assert erased.status_code == 200, erased.text
    assert await count(db, IdempotencyRecord, tenant.workspace_id) == 1  # the bystander's

    # The forgotten keys are new again: the request is processed afresh, not replayed.
    again = await client.post(BASE, headers=keyed("create-person"), json=person)
    assert "idempotent-replayed" not in again.headers
    assert a not in again.text and b not in again.text
    if suppress:  # the person asked not to be profiled again: refused, nothing stored
        assert again.status_code == 410 and again.json()["error"]["code"] == "suppressed"
        assert "replay@example.com" not in again.text
    else:  # like a first use of the key: the identity is new to the workspace again
        assert again.status_code == 201 and again.json()["id"] not in (a, b)
    remerge = await client.post(f"{BASE}/merge", headers=keyed("merge"), json=merge)
    assert remerge.status_code == 410 and "idempotent-replayed" not in remerge.headers
    # Someone else's stored response still replays.
    replay = await client.post(BASE, headers=keyed("create-bystander"), json=bystander)
    assert replay.headers["idempotent-replayed"] == "true" and replay.json() == kept.json()
