"""Users, roles and teams."""

from __future__ import annotations

import asyncio

import httpx

from cxprism.kit.db import Database
from cxprism.workspaces.permissions import Role
from tests.fixtures.builders import Tenant, api_key_for


async def test_admin_creates_users_with_normalised_email(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post("/api/v1/users", headers=tenant.headers, json={
        "email": " Agent@Acme.Example ", "name": "Agent", "role": "agent",
        "password": "long enough password"})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "agent@acme.example"
    assert "password" not in body and "password_hash" not in body
    duplicate = await client.post("/api/v1/users", headers=tenant.headers, json={
        "email": "agent@acme.example", "name": "Again", "role": "agent"})
    assert duplicate.status_code == 409
    assert duplicate.json()["error"]["code"] == "email_taken"


async def test_roles_limit_what_a_key_may_do(client: httpx.AsyncClient, tenant: Tenant,
                                             db: Database) -> None:
    agent = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.AGENT)}"}
    analyst = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.ANALYST)}"}
    supervisor = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.SUPERVISOR)}"}
    assert (await client.get("/api/v1/users", headers=agent)).status_code == 200
    denied = await client.post("/api/v1/users", headers=agent, json={
        "email": "x@acme.example", "name": "X", "role": "admin"})
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    assert (await client.post("/api/v1/teams", headers=analyst,
                              json={"name": "Tier 1"})).status_code == 403
    assert (await client.post("/api/v1/teams", headers=supervisor,
                              json={"name": "Tier 1"})).status_code == 201
    assert (await client.get("/api/v1/api-keys", headers=supervisor)).status_code == 403
    assert (await client.post("/api/v1/api-keys", headers=agent,
                              json={"name": "escalate"})).status_code == 403


async def test_last_admin_cannot_be_demoted_or_deactivated(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for change in ({"role": "agent"}, {"is_active": False}):
        response = await client.patch(f"/api/v1/users/{tenant.admin_id}",
                                      headers=tenant.headers, json=change)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "last_admin"
    second = (await client.post("/api/v1/users", headers=tenant.headers, json={
        "email": "second@acme.example", "name": "Second", "role": "admin"})).json()
    demoted = await client.patch(f"/api/v1/users/{tenant.admin_id}", headers=tenant.headers,
                                 json={"role": "supervisor"})
    assert demoted.status_code == 200
    assert demoted.json()["role"] == "supervisor"
    assert second["role"] == "admin"


async def test_teams_and_members(client: httpx.AsyncClient, tenant: Tenant,
                                 other_tenant: Tenant) -> None:
    team = (await client.post("/api/v1/teams", headers=tenant.headers,
                              json={"name": "Billing", "description": "Invoices"})).json()
    added = await client.post(f"/api/v1/teams/{team['id']}/members", headers=tenant.headers,
                              json={"user_id": str(tenant.admin_id)})
    assert added.json()["member_ids"] == [str(tenant.admin_id)]
    foreign = await client.post(f"/api/v1/teams/{team['id']}/members", headers=tenant.headers,
                                json={"user_id": str(other_tenant.admin_id)})
    assert foreign.status_code == 404
    assert (await client.post("/api/v1/teams", headers=tenant.headers,
                              json={"name": "Billing"})).status_code == 409
    removed = await client.delete(f"/api/v1/teams/{team['id']}/members/{tenant.admin_id}",
                                  headers=tenant.headers)
    assert removed.status_code == 204
    assert (await client.get(f"/api/v1/teams/{team['id']}",
                             headers=tenant.headers)).json()["member_ids"] == []
    assert (await client.delete(f"/api/v1/teams/{team['id']}",
                                headers=tenant.headers)).status_code == 204
    assert (await client.get(f"/api/v1/teams/{team['id']}",
                             headers=tenant.headers)).status_code == 404


async def test_sources_keep_their_write_key_readable(client: httpx.AsyncClient,
                                                     tenant: Tenant) -> None:
    created = await client.post("/api/v1/sources", headers=tenant.headers,
                                json={"name": "Website", "kind": "website"})
    assert created.status_code == 201
    key = created.json()["write_key"]
    listed = (await client.get("/api/v1/sources", headers=tenant.headers)).json()["data"]
    assert [s["write_key"] for s in listed] == [key]
    assert (await client.post("/api/v1/sources", headers=tenant.headers,
                              json={"name": "Website", "kind": "app"})).status_code == 409
    assert (await client.post("/api/v1/sources", headers=tenant.headers,
                              json={"name": "Kiosk", "kind": "fridge"})).status_code == 422


async def test_workspace_settings(client: httpx.AsyncClient, tenant: Tenant) -> None:
    updated = await client.patch("/api/v1/workspace", headers=tenant.headers,
                                 json={"name": "Acme Corp", "timezone": "Europe/Paris"})
    assert updated.json()["timezone"] == "Europe/Paris"
    bad = await client.patch("/api/v1/workspace", headers=tenant.headers,
                             json={"timezone": "Mars/Olympus"})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "timezone"


async def test_concurrent_demotions_never_leave_a_workspace_without_an_admin(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for round_ in range(5):
        await client.post("/api/v1/users", headers=tenant.headers, json={
            "email": f"second{round_}@acme.example", "name": "Second", "role": "admin"})
        users = (await client.get("/api/v1/users", headers=tenant.headers,
                                  params={"limit": 200})).json()["data"]
        admins = [u["id"] for u in users if u["role"] == "admin" and u["is_active"]]
        assert len(admins) == 2
        responses = await asyncio.gather(*[
            client.patch(f"/api/v1/users/{admin}", headers=tenant.headers,
                         json={"role": "agent"}) for admin in admins])
        assert sorted(r.status_code for r in responses) == [200, 409]
