"""API keys: shown once, stored hashed, scoped to one workspace, revocable."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy import select, update

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.workspaces.models import ApiKey
from tests.fixtures.builders import Tenant


async def test_secret_is_shown_once_and_stored_only_as_a_digest(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    created = await client.post("/api/v1/api-keys", headers=tenant.headers,
                                json={"name": "crm sync", "role": "analyst"})
    assert created.status_code == 201
    secret = created.json()["secret"]
    assert secret.startswith("cxp_")
    listed = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["data"]
    assert all("secret" not in key for key in listed)
    assert secret not in str(listed)
    async with db.session() as session:
        stored = (await session.execute(select(ApiKey))).scalars().all()
    assert all(secret not in (k.digest + k.lookup) for k in stored)
    me = await client.get("/api/v1/workspace", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    assert me.json()["slug"] == "acme"


async def test_revoked_key_is_refused(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = (await client.post("/api/v1/api-keys", headers=tenant.headers,
                                 json={"name": "temp"})).json()
    headers = {"Authorization": f"Bearer {created['secret']}"}
    assert (await client.get("/api/v1/users", headers=headers)).status_code == 200
    revoked = await client.delete(f"/api/v1/api-keys/{created['id']}", headers=tenant.headers)
    assert revoked.json()["revoked_at"] is not None
    refused = await client.get("/api/v1/users", headers=headers)
    assert refused.status_code == 401
    assert refused.json()["error"] == {
        "code": "unauthorized", "message": "The API key was revoked.", "details": None}


async def test_expired_key_is_refused(client: httpx.AsyncClient, tenant: Tenant,
                                      db: Database) -> None:
    created = (await client.post("/api/v1/api-keys", headers=tenant.headers, json={
        "name": "short", "expires_at": (utcnow() + timedelta(hours=1)).isoformat()})).json()
    async with db.session() as session:
        await session.execute(update(ApiKey).where(ApiKey.name == "short")
                              .values(expires_at=utcnow() - timedelta(seconds=1)))
        await session.commit()
    refused = await client.get("/api/v1/users",
                               headers={"Authorization": f"Bearer {created['secret']}"})
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]["message"]


async def test_expiry_in_the_past_is_rejected(client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await client.post("/api/v1/api-keys", headers=tenant.headers, json={
        "name": "old", "expires_at": "2001-01-01T00:00:00Z"})
    assert response.status_code == 422


async def test_wrong_and_malformed_credentials(client: httpx.AsyncClient, tenant: Tenant) -> None:
    tampered = tenant.api_key[:-2] + ("AA" if not tenant.api_key.endswith("AA") else "BB")
    for header in (f"Bearer {tampered}", "Bearer cxp_nothing", "Basic dXNlcjpwYXNz",
                   "Bearer", f"Token {tenant.api_key}"):
        response = await client.get("/api/v1/users", headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["error"]["code"] == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    assert (await client.get("/api/v1/users")).status_code == 401
