"""Bad-input walk: every mutating route with a body, fed input it must refuse.

For each route (A's admin key, A's own objects, so only the input is wrong): malformed
JSON, a body of the wrong type, each field of the route's sample with a wrong type, an
unknown field, and an oversized body with and without Content-Length. Each gets the
documented error body with the status the app answers today — 422 ``validation_error``
for anything unparseable or invalid (malformed JSON included; nothing answers 400), 413
``payload_too_large`` past the size limit — and nothing changes.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI

from cxprism.config import Settings
from tests.fixtures.builders import Tenant
from tests.security.owned_objects import OwnedObjects, sample_body
from tests.security.walk import api_routes, assert_error, call, fill

UNPARSEABLE = [b'{"name": ', b"{'name': 'single quotes'}", b"\xff\xfe not utf-8", b"nul\x00l"]
NOT_AN_OBJECT = [b"[]", b'"text"', b"42", b"null", b""]


def body_routes(app: FastAPI, ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    routes = []
    for method, path in api_routes(app):
        body = sample_body(method, path, ids)
        if body is not None:
            routes.append((method, path, body))
    assert len(routes) >= 10
    return routes


def wrong_type(value: Any) -> Any:
    # No scalar, object or enum field accepts a list; no list field accepts a string.
    return "not a list" if isinstance(value, list) else ["wrong", "type"]


def names_field(response: httpx.Response, name: str) -> bool:
    fields = [d["field"] for d in response.json()["error"]["details"]]
    return any(f == name or f.startswith(f"{name}.") for f in fields)


async def test_unparseable_and_non_object_bodies_are_422(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, owned: OwnedObjects) -> None:
    before = await owned.snapshot(client, tenant)
    for method, path, _ in body_routes(app, owned.ids):
        url = fill(path, owned.ids)
        for raw in UNPARSEABLE:
            response = await call(client, method, url, tenant.headers, raw)
            assert_error(response, 422, "validation_error", (method, path, raw))
            assert response.json()["error"]["details"][0]["type"] == "json_invalid"
        for raw in NOT_AN_OBJECT:
            response = await call(client, method, url, tenant.headers, raw)
            assert_error(response, 422, "validation_error", (method, path, raw))
    assert await owned.snapshot(client, tenant) == before


async def test_wrong_types_and_unknown_fields_are_422(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, owned: OwnedObjects) -> None:
    before = await owned.snapshot(client, tenant)
    for method, path, body in body_routes(app, owned.ids):
        url = fill(path, owned.ids)
        for name, value in body.items():
            response = await call(client, method, url, tenant.headers,
                                  {**body, name: wrong_type(value)})
            assert_error(response, 422, "validation_error", (method, path, name))
            assert names_field(response, name), (method, path, name, response.text)
        response = await call(client, method, url, tenant.headers,
                              {**body, "nickname": "unknown"})
        assert_error(response, 422, "validation_error", (method, path, "nickname"))
        assert {"field": "nickname", "message": "unknown or server-owned field; remove it",
                "type": "extra_forbidden"} in response.json()["error"]["details"]
    assert await owned.snapshot(client, tenant) == before


async def test_oversized_bodies_are_413(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, owned: OwnedObjects,
        settings: Settings) -> None:
    before = await owned.snapshot(client, tenant)
    for method, path, body in body_routes(app, owned.ids):
        url = fill(path, owned.ids)
        # Valid apart from its size: only the limit can refuse it.
        big = json.dumps(body).encode() + b" " * settings.max_request_bytes
        declared = await call(client, method, url, tenant.headers, big)
        assert_error(declared, 413, "payload_too_large", (method, path, "Content-Length"))

        async def stream(data: bytes = big) -> AsyncIterator[bytes]:  # no Content-Length
            for start in range(0, len(data), 8192):
                yield data[start:start + 8192]

        streamed = await client.request(method, url, content=stream(), headers={
            **tenant.headers, "Content-Type": "application/json"})
        assert "content-length" not in streamed.request.headers
        assert_error(streamed, 413, "payload_too_large", (method, path, "streamed"))
    assert await owned.snapshot(client, tenant) == before
