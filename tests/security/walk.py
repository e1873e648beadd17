"""Helpers for the route walks: every /api/v1 route, its path filled with chosen ids."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import httpx
from fastapi import FastAPI

PARAM = re.compile(r"{([a-z_]+)}")
MUTATING = frozenset({"POST", "PATCH", "PUT", "DELETE"})


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    routes = []
    for path, operations in app.openapi()["paths"].items():
        if path.startswith("/api/v1/"):
            routes += [(method.upper(), path) for method in operations]
    return sorted(routes)


def never_existing(value: str) -> str:
    """An id of the same type as ``value`` that names nothing anywhere."""
    return "987654321" if value.isdigit() else str(uuid.uuid4())


def path_params(path: str) -> list[str]:
    return PARAM.findall(path)


def fill(path: str, ids: dict[str, str]) -> str:
    missing = [p for p in path_params(path) if p not in ids]
    assert not missing, f"add an owned object for path parameter(s) {missing} of {path}"
    return PARAM.sub(lambda m: ids[m.group(1)], path)


async def call(client: httpx.AsyncClient, method: str, path: str, headers: dict[str, str],
               body: dict[str, Any] | bytes | None) -> httpx.Response:
    content = json.dumps(body) if isinstance(body, dict) else body
    return await client.request(method, path, content=content,
                                headers={**headers, "Content-Type": "application/json"})


def assert_error(response: httpx.Response, status: int, code: str, context: Any = None) -> None:
    """The documented error body, exactly: {"error": {"code", "message", "details"}}."""
    assert response.status_code == status, (context, response.status_code, response.text)
    body = response.json()
    assert set(body) == {"error"}, (context, body)
    assert set(body["error"]) == {"code", "message", "details"}, (context, body)
    assert body["error"]["code"] == code, (context, body)
    assert body["error"]["message"], (context, body)
