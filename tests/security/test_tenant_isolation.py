"""Tenant isolation: walk every API route with a second workspace's credentials.

Each route is called with workspace B's admin key and the ids of workspace A's objects;
every one must answer 404 (401/403 where the route itself is forbidden), and A's objects
must be unchanged afterwards. A route added without an entry here fails this test, so
isolation is checked for every route anyone adds.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.security.owned_objects import OwnedObjects, build_owned_objects, sample_body

PARAM = re.compile(r"{([a-z_]+)}")
SERVER_OWNED = {"workspace_id", "id", "created_at", "updated_at"}


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/v1/"):
            routes += [(method.upper(), path) for method in operations]
    return sorted(routes)


def fill(path: str, ids: dict[str, str]) -> str:
    missing = [p for p in PARAM.findall(path) if p not in ids]
    assert not missing, f"add an owned object for path parameter(s) {missing} of {path}"
    return PARAM.sub(lambda m: ids[m.group(1)], path)


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str],
               body: dict[str, Any] | None) -> httpx.Response:
    return await client.request(method, path, headers=headers,
                                content=json.dumps(body) if body is not None else None)


@pytest.fixture
async def owned(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> OwnedObjects:
    return await build_owned_objects(client, tenant, db)


async def test_foreign_ids_answer_404_on_every_route(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        owned: OwnedObjects) -> None:
    headers = {**other_tenant.headers, "Content-Type": "application/json"}
    before = await owned.snapshot(client, tenant)
    checked = 0
    for method, path in api_routes(app):
        url = fill(path, owned.ids) + owned.query_for(method, path)
        body = sample_body(method, path, owned.ids)
        response = await call(client, method, url, headers, body)
        if PARAM.search(path) or owned.refers_to_foreign_ids(method, path):
            assert response.status_code in (401, 403, 404), (method, path, response.text)
            if response.status_code == 404:
                assert response.json()["error"]["code"] == "not_found"
            checked += 1
        else:
            assert response.status_code < 500, (method, path, response.text)
            assert not owned.leaks_into(response.text), (method, path, response.text)
            if (method, path) == ("GET", "/api/v1/jobs"):
                assert response.json()["data"] == []  # B has no jobs; A's stay hidden
    assert checked >= 10
    assert await owned.snapshot(client, tenant) == before


async def test_every_route_requires_credentials(app: FastAPI, client: httpx.AsyncClient,
                                                owned: OwnedObjects) -> None:
    for method, path in api_routes(app):
        url = fill(path, owned.ids)
        response = await call(client, method, url, {"Content-Type": "application/json"},
                              sample_body(method, path, owned.ids))
        assert response.status_code == 401, (method, path, response.status_code)


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
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant,
        owned: OwnedObjects) -> None:
    before = await owned.snapshot(client, tenant)
    headers = {**other_tenant.headers, "Content-Type": "application/json"}
    for method, path in api_routes(app):
        body = sample_body(method, path, owned.ids)
        if body is None:
            continue
        url = fill(path, owned.ids)
        for field in ("workspace_id", "id", "created_at"):
            hostile = {**body, field: owned.ids.get("user_id") if field != "created_at"
                       else "2001-01-01T00:00:00Z"}
            hostile["workspace_id"] = str(tenant.workspace_id)
            response = await call(client, method, url, headers, hostile)
            assert response.status_code in (401, 403, 404, 422), (method, path, field)
    assert await owned.snapshot(client, tenant) == before
