"""Tenant isolation: walk every API route with a second workspace's credentials.

Each route is called with workspace B's admin key and the ids of workspace A's objects;
every one must answer exactly 404 ``not_found`` (ARCHITECTURE: another workspace's id is
404, never 403 — and an admin may call every route, so no route is forbidden here), and
A's objects must be unchanged afterwards. A route added without a sample body or an owned
object for its path parameters fails these tests, so isolation is checked for every route
anyone adds.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from tests.fixtures.builders import Tenant
from tests.security.owned_objects import (
    SEARCHES,
    OwnedObjects,
    body_id_names,
    sample_body,
)
from tests.security.walk import (
    PARAM,
    api_routes,
    assert_error,
    call,
    fill,
    never_existing,
    path_params,
)

SERVER_OWNED = {"workspace_id", "id", "created_at", "updated_at"}


async def test_foreign_ids_answer_404_on_every_route(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        owned: OwnedObjects) -> None:
    before = await owned.snapshot(client, tenant)
    checked = 0
    for method, path in api_routes(app):
        url = fill(path, owned.ids)
        body = sample_body(method, path, owned.ids)
        response = await call(client, method, url + owned.query_for(method, path),
                              other_tenant.headers, body)
        if PARAM.search(path) or owned.refers_to_foreign_ids(method, path):
            assert_error(response, 404, "not_found", (method, path))
            checked += 1
            if not owned.query_for(method, path):
                continue
            # The same route without naming A's data: it shows none of it either.
            response = await call(client, method, url, other_tenant.headers, body)
        if not PARAM.search(path):
            assert response.status_code < 500, (method, path, response.text)
            assert not owned.leaks_into(response.text), (method, path, response.text)
            if (method, path) == ("GET", "/api/v1/jobs"):  # B's own jobs only, never A's
                assert "walk.noop" not in {job["kind"] for job in response.json()["data"]}
    assert checked >= 10
    assert await owned.snapshot(client, tenant) == before


async def test_foreign_identity_values_in_a_search_find_nothing(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        owned: OwnedObjects, theirs: OwnedObjects) -> None:
    b_customers = {theirs.ids["customer_id"], theirs.ids["other_customer_id"]}
    for query in SEARCHES:
        url = "/api/v1/customers" + query
        mine = await client.get(url, headers=tenant.headers)
        assert mine.status_code == 200 and mine.json()["data"], (query, mine.text)  # A finds it
        response = await client.get(url, headers=other_tenant.headers)
        assert response.status_code == 200, (query, response.text)
        assert {c["id"] for c in response.json()["data"]} <= b_customers, query
        assert not owned.leaks_into(response.text), (query, response.text)
        assert "@acme.example" not in response.text, (query, response.text)


async def test_own_ids_in_the_path_and_foreign_ids_in_the_body_answer_404(
        app: FastAPI, client: httpx.AsyncClient, *, tenant: Tenant, other_tenant: Tenant,
        owned: OwnedObjects, theirs: OwnedObjects) -> None:
    """B's own objects in the path, one of A's ids in the body, for each id a body carries."""
    before = (await owned.snapshot(client, tenant),
              await theirs.snapshot(client, other_tenant))
    checked = 0
    for method, path in api_routes(app):
        url = fill(path, theirs.ids)
        for name in body_id_names(method, path, theirs.ids):
            body = sample_body(method, path, {**theirs.ids, name: owned.ids[name]})
            response = await call(client, method, url, other_tenant.headers, body)
            assert_error(response, 404, "not_found", (method, path, name))
            checked += 1
    assert checked >= 3  # team member's user_id; merge's winner_id and loser_id
    assert (await owned.snapshot(client, tenant),
            await theirs.snapshot(client, other_tenant)) == before


async def test_a_foreign_id_beside_own_ids_in_the_path_is_an_unknown_id(
        app: FastAPI, client: httpx.AsyncClient, *, tenant: Tenant, other_tenant: Tenant,
        owned: OwnedObjects, theirs: OwnedObjects) -> None:
    """B's own object in one path slot, A's in another: 404, as an id that never was."""
    before = (await owned.snapshot(client, tenant),
              await theirs.snapshot(client, other_tenant))
    checked = 0
    for method, path in api_routes(app):
        body = sample_body(method, path, theirs.ids)
        for name in path_params(path) if len(path_params(path)) > 1 else []:
            outcomes = []
            for value in (never_existing(owned.ids[name]), owned.ids[name]):
                url = fill(path, {**theirs.ids, name: value})
                response = await call(client, method, url, other_tenant.headers, body)
                assert response.status_code < 500, (method, path, response.text)
                code = response.json()["error"]["code"] if response.content else None
                outcomes.append((response.status_code, code))
            assert outcomes[0] == outcomes[1] == (404, "not_found"), (method, path, name)
            checked += 1
    assert checked >= 2
    assert (await owned.snapshot(client, tenant),
            await theirs.snapshot(client, other_tenant)) == before


async def test_every_route_requires_credentials(app: FastAPI, client: httpx.AsyncClient,
                                                owned: OwnedObjects) -> None:
    for method, path in api_routes(app):
        url = fill(path, owned.ids)
        response = await call(client, method, url, {}, sample_body(method, path, owned.ids))
        assert_error(response, 401, "unauthorized", (method, path))


def test_no_request_body_accepts_server_owned_fields(app: FastAPI) -> None:
    schemas = app.openapi()["components"]["schemas"]
    for method, path in api_routes(app):
        operation = app.openapi()["paths"][path][method.lower()]
        content = operation.get("requestBody", {}).get("content", {})
        for media in content.values():
            ref = media["schema"].get("$ref", "")
            schema = schemas[ref.rsplit("/", 1)[-1]] if ref else media["schema"]
            assert schema.get("additionalProperties") is False, (method, path)
            assert not SERVER_OWNED & set(schema.get("properties", {})), (method, path)


async def test_server_owned_fields_in_a_body_are_rejected(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, owned: OwnedObjects) -> None:
    """A's own credentials on A's own objects: only the server-owned field is wrong."""
    before = await owned.snapshot(client, tenant)
    values = {"workspace_id": str(tenant.workspace_id), "id": owned.ids["user_id"],
              "created_at": "2001-01-01T00:00:00Z", "updated_at": "2001-01-01T00:00:00Z"}
    checked = 0
    for method, path in api_routes(app):
        body = sample_body(method, path, owned.ids)
        if body is None:
            continue
        url = fill(path, owned.ids)
        for field, value in values.items():
            response = await call(client, method, url, tenant.headers, {**body, field: value})
            assert_error(response, 422, "validation_error", (method, path, field))
            assert {"field": field, "message": "unknown or server-owned field; remove it",
                    "type": "extra_forbidden"} in response.json()["error"]["details"]
            checked += 1
    assert checked >= 4 * 10
    assert await owned.snapshot(client, tenant) == before
