"""Input a database cannot store gets a 422 with the error body, never a 500."""

from __future__ import annotations

import base64

import httpx
import pytest

from tests.fixtures.builders import Tenant

HOSTILE_BODIES = [
    ("POST", "/api/v1/users", {"email": "a@acme.example", "name": "A\x00B", "role": "agent"}),
    ("POST", "/api/v1/users", {"email": "a\x00@acme.example", "name": "A", "role": "agent"}),
    ("POST", "/api/v1/teams", {"name": "team", "description": "bad \x07 bell"}),
    ("POST", "/api/v1/api-keys", {"name": "k\x00"}),
    ("POST", "/api/v1/api-keys", {"name": "k", "expires_at": "2030-01-01T00:00:00"}),
    ("POST", "/api/v1/api-keys", {"name": "k", "expires_at": "9999-12-31T23:00:00-05:00"}),
    ("POST", "/api/v1/sources", {"name": "s\x1b[31m", "kind": "server"}),
]


@pytest.mark.parametrize(("method", "path", "body"), HOSTILE_BODIES)
async def test_unstorable_text_and_dates_are_422(client: httpx.AsyncClient, tenant: Tenant,
                                                 method: str, path: str, body: dict) -> None:
    response = await client.request(method, path, headers=tenant.headers, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_error"


async def test_lone_surrogate_is_422(client: httpx.AsyncClient, tenant: Tenant) -> None:
    raw = b'{"name": "bad \\ud800 text"}'
    response = await client.post("/api/v1/teams", content=raw,
                                 headers={**tenant.headers, "Content-Type": "application/json"})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("job_id", ["0", "-1", str(2**63), str(10**30)])
async def test_job_ids_out_of_range_are_422(client: httpx.AsyncClient, tenant: Tenant,
                                            job_id: str) -> None:
    for method, suffix in (("GET", ""), ("POST", "/retry"), ("POST", "/cancel")):
        response = await client.request(method, f"/api/v1/jobs/{job_id}{suffix}",
                                        headers=tenant.headers)
        assert response.status_code == 422, (method, suffix, response.text)


async def test_job_cursor_out_of_range_is_422(client: httpx.AsyncClient, tenant: Tenant) -> None:
    cursor = base64.urlsafe_b64encode(b"job:" + str(2**70).encode()).decode().rstrip("=")
    response = await client.get("/api/v1/jobs", headers=tenant.headers, params={"cursor": cursor})
    assert response.status_code == 422, response.text
