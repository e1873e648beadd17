"""Trails join the right customer: before login, after login, across merges; and reads."""

from __future__ import annotations

import httpx
import pytest

from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.tracking.helpers import (
    Source,
    customer_by_email,
    drain,
    erase_with_suppression,
    make_source,
    post,
)


@pytest.fixture
async def source(db: Database, tenant: Tenant) -> Source:
    return await make_source(db, tenant)


def page(n: int, anonymous_id: str, **extra: object) -> dict[str, object]:
    return {"type": "page", "name": f"Page {n}", "anonymousId": anonymous_id,
            "messageId": f"page-{anonymous_id}-{n}",
            "timestamp": f"2026-11-20T10:0{n}:00Z", "properties": {"path": f"/p/{n}"}, **extra}


async def timeline(client: httpx.AsyncClient, tenant: Tenant, customer_id: str,
                   **params: object) -> dict[str, object]:
    response = await client.get(f"/api/v1/customers/{customer_id}/timeline",
                                headers=tenant.headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


async def test_browsing_before_login_joins_the_customer_after_it(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    browsing = [page(n, "anon-1") for n in range(3)]
    assert (await post(client, "/v1/batch", source, {"batch": browsing})).status_code == 200
    login = {"userId": "u-42", "anonymousId": "anon-1", "messageId": "login",
             "timestamp": "2026-11-20T10:05:00Z",
             "traits": {"email": "Ana@Example.com", "plan": "pro"}}
    assert (await post(client, "/v1/identify", source, login)).status_code == 200
    after = {"type": "track", "event": "Order Completed", "userId": "u-42",
             "messageId": "order", "timestamp": "2026-11-20T10:06:00Z"}
    assert (await post(client, "/v1/track", source, after)).status_code == 200
    await drain(db)

    customer_id = await customer_by_email(client, tenant, "ana@example.com")
    items = (await timeline(client, tenant, customer_id))["data"]
    assert isinstance(items, list)
    assert [i["event"]["message_id"] for i in items] == [
        "order", "login", "page-anon-1-2", "page-anon-1-1", "page-anon-1-0"]
    customer = (await client.get(f"/api/v1/customers/{customer_id}",
                                 headers=tenant.headers)).json()
    assert customer["traits"]["plan"] == "pro"
    kinds = {(i["kind"], i["value"]) for i in customer["identities"]}
    assert {("external_id", "u-42"), ("anonymous_id", "anon-1"),
            ("email", "ana@example.com")} <= kinds


async def test_a_later_login_from_a_second_device_merges_both_trails(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    phone, laptop = page(1, "phone"), page(2, "laptop")
    await post(client, "/v1/batch", source, {"batch": [phone, laptop]})
    for device in ("phone", "laptop"):
        await post(client, "/v1/identify", source, {
            "userId": "u-7", "anonymousId": device, "messageId": f"id-{device}",
            "traits": {"email": "bo@example.com"}})
    await drain(db)
    customer_id = await customer_by_email(client, tenant, "bo@example.com")
    ids = {i["event"]["message_id"] for i in (await timeline(client, tenant, customer_id))["data"]}
    assert {"page-phone-1", "page-laptop-2", "id-phone", "id-laptop"} == ids


async def test_alias_ties_the_previous_anonymous_id_to_the_user(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    await post(client, "/v1/page", source, page(1, "anon-a"))
    await post(client, "/v1/alias", source, {"userId": "u-9", "previousId": "anon-a",
                                            "messageId": "alias-1"})
    await post(client, "/v1/identify", source, {"userId": "u-9", "messageId": "i-9",
                                               "traits": {"email": "cy@example.com"}})
    await drain(db)
    customer_id = await customer_by_email(client, tenant, "cy@example.com")
    ids = {i["event"]["message_id"] for i in (await timeline(client, tenant, customer_id))["data"]}
    assert ids == {"page-anon-a-1", "alias-1", "i-9"}


async def test_the_timeline_pages_with_a_cursor_and_refuses_forged_cursors(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    batch = [{"type": "track", "event": "Tick", "userId": "u-1", "messageId": f"t-{n}",
              "timestamp": f"2026-11-20T10:00:{n:02d}Z"} for n in range(25)]
    await post(client, "/v1/batch", source, {"batch": batch})
    await post(client, "/v1/identify", source, {"userId": "u-1", "messageId": "who",
                                               "timestamp": "2026-11-19T00:00:00Z",
                                               "traits": {"email": "di@example.com"}})
    await drain(db)
    customer_id = await customer_by_email(client, tenant, "di@example.com")
    seen, cursor = [], None
    while True:
        params = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        body = await timeline(client, tenant, customer_id, **params)
        seen += [i["event"]["message_id"] for i in body["data"]]  # type: ignore[attr-defined]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"t-{n}" for n in reversed(range(25))] + ["who"]
    forged = await client.get(f"/api/v1/customers/{customer_id}/timeline",
                              headers=tenant.headers, params={"cursor": "bm9wZQ"})
    assert forged.status_code == 422


async def test_events_filter_by_name_type_time_and_customer(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    batch = [
        {"type": "track", "event": "Viewed", "userId": "a", "messageId": "1",
         "timestamp": "2026-11-20T10:00:00Z"},
        {"type": "track", "event": "Bought", "userId": "a", "messageId": "2",
         "timestamp": "2026-11-20T11:00:00Z"},
        {"type": "page", "name": "Home", "anonymousId": "x", "messageId": "3",
         "timestamp": "2026-11-20T12:00:00Z"}]
    await post(client, "/v1/batch", source, {"batch": batch})

    async def ids(**params: str) -> list[str]:
        response = await client.get("/api/v1/events", headers=tenant.headers, params=params)
        assert response.status_code == 200, response.text
        return [e["message_id"] for e in response.json()["data"]]

    assert await ids() == ["3", "2", "1"]
    assert await ids(name="Bought") == ["2"]
    assert await ids(type="page") == ["3"]
    assert await ids(since="2026-11-20T10:30:00Z", until="2026-11-20T11:30:00Z") == ["2"]
    bad = await client.get("/api/v1/events", headers=tenant.headers, params={"type": "nope"})
    assert bad.status_code == 422
    await drain(db)  # the catalogue is kept by a consumer, off the ingestion path
    catalogue = (await client.get("/api/v1/event-names", headers=tenant.headers)).json()
    assert {(e["type"], e["name"], e["count"]) for e in catalogue["data"]} == {
        ("track", "Viewed", 1), ("track", "Bought", 1), ("page", "Home", 1)}
    again = [*batch, {"type": "track", "event": "Viewed", "userId": "b", "messageId": "4"}]
    await post(client, "/v1/batch", source, {"batch": again})  # 3 duplicates, 1 new
    await drain(db)
    entries = (await client.get("/api/v1/event-names", headers=tenant.headers,
                                params={"type": "track"})).json()["data"]
    assert [(e["name"], e["count"]) for e in entries] == [("Viewed", 2), ("Bought", 1)]
    viewed = entries[0]
    assert viewed["first_seen_at"] < viewed["last_seen_at"]


async def test_group_calls_record_accounts_and_membership(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    await post(client, "/v1/group", source, {
        "userId": "u-5", "groupId": "acme-inc", "messageId": "g1",
        "traits": {"name": "Acme Inc", "plan": "enterprise"}})
    await post(client, "/v1/identify", source, {"userId": "u-5", "messageId": "i5",
                                               "traits": {"email": "ed@example.com"}})
    await drain(db)
    group = (await client.get("/api/v1/groups/acme-inc", headers=tenant.headers)).json()
    assert group["traits"] == {"name": "Acme Inc", "plan": "enterprise"}
    assert [(m["id_kind"], m["member_id"]) for m in group["members"]] == [("user_id", "u-5")]
    customer_id = await customer_by_email(client, tenant, "ed@example.com")
    groups = (await client.get(f"/api/v1/customers/{customer_id}/groups",
                               headers=tenant.headers)).json()["data"]
    assert [g["group_id"] for g in groups] == ["acme-inc"]


async def test_events_of_an_erased_suppressed_customer_are_dropped(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    await erase_with_suppression(client, db, tenant, source, {
        "userId": "gone", "anonymousId": "dev-g", "messageId": "i-gone",
        "traits": {"email": "gone@example.com"}})
    later = [{"type": "track", "event": "Came back", "userId": "gone", "messageId": "back"},
             {"type": "page", "anonymousId": "dev-g", "messageId": "back-anon"},
             {"type": "track", "event": "Other", "userId": "someone", "messageId": "other"}]
    response = await post(client, "/v1/batch", source, {"batch": later})
    assert response.status_code == 200
    stored = (await client.get("/api/v1/events", headers=tenant.headers)).json()["data"]
    assert "back" not in {e["message_id"] for e in stored}
    assert "back-anon" not in {e["message_id"] for e in stored}
    assert "other" in {e["message_id"] for e in stored}
    await drain(db)
    stats = (await client.get(f"/api/v1/sources/{source.id}/stats",
                              headers=tenant.headers)).json()
    assert stats["suppressed"] == 2
    assert "i-gone" not in {e["message_id"] for e in stored}  # erased with the person


async def test_a_customers_export_holds_their_trail_and_erasure_deletes_it(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    await post(client, "/v1/batch", source, {"batch": [
        page(1, "dev-e"),
        {"type": "identify", "userId": "eve", "anonymousId": "dev-e", "messageId": "i-eve",
         "traits": {"email": "eve@example.com"}},
        {"type": "group", "userId": "eve", "groupId": "eve-co", "messageId": "g-eve"},
        {"type": "track", "event": "Stays", "userId": "frank", "messageId": "frank"}]})
    await drain(db)
    customer_id = await customer_by_email(client, tenant, "eve@example.com")
    export = (await client.get(f"/api/v1/customers/{customer_id}/export",
                               headers=tenant.headers)).json()
    assert {e["message_id"] for e in export["tracked_events"]} == {
        "page-dev-e-1", "i-eve", "g-eve"}
    erased = await client.post(f"/api/v1/customers/{customer_id}/erase",
                               headers=tenant.headers, json={"suppress": False})
    assert erased.status_code in (200, 201)
    left = (await client.get("/api/v1/events", headers=tenant.headers)).json()["data"]
    assert [e["message_id"] for e in left] == ["frank"]
    group = (await client.get("/api/v1/groups/eve-co", headers=tenant.headers)).json()
    assert group["members"] == []
