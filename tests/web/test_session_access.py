"""A web session on the API (CSRF on unsafe methods) and role checks on the pages."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from cxprism.kit.db import Database
from cxprism.workspaces.models import ApiKey
from tests.fixtures.builders import Tenant
from tests.web.helpers import AGENT_PASSWORD, add_user, sign_in_admin, submit_login

NEW_USER = {"email": "new@acme.example", "name": "New Person", "role": "agent"}


async def test_session_cookie_works_on_the_api_with_csrf_for_writes(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf_token = await sign_in_admin(client, tenant)
    listed = await client.get("/api/v1/users")
    assert listed.status_code == 200
    assert [u["email"] for u in listed.json()["data"]] == [tenant.admin_email]
    refused = await client.post("/api/v1/users", json=NEW_USER)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = await client.post("/api/v1/users", json=NEW_USER, headers={"X-CSRF-Token": "x"})
    assert wrong.json()["error"]["code"] == "csrf_failed"
    assert len((await client.get("/api/v1/users")).json()["data"]) == 1
    created = await client.post("/api/v1/users", json=NEW_USER,
                                headers={"X-CSRF-Token": csrf_token})
    assert created.status_code == 201, created.text
    assert created.json()["email"] == NEW_USER["email"]


async def test_deactivated_users_session_stops_working(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    user_id = await add_user(client, tenant, "agent")
    signed_in = await submit_login(client, tenant.slug, "agent@acme.example", AGENT_PASSWORD)
    assert signed_in.status_code == 303
    assert (await client.get("/")).status_code == 200
    deactivated = await client.patch(f"/api/v1/users/{user_id}", headers=tenant.headers,
                                     json={"is_active": False})
    assert deactivated.status_code == 200
    home = await client.get("/")
    assert home.status_code == 303
    assert home.headers["location"].startswith("/login")
    assert (await client.get("/api/v1/users")).status_code == 401
    again = await submit_login(client, tenant.slug, "agent@acme.example", AGENT_PASSWORD)
    assert again.status_code == 401


async def test_agent_sees_no_settings_and_gets_403_there(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    await add_user(client, tenant, "agent")
    await submit_login(client, tenant.slug, "agent@acme.example", AGENT_PASSWORD)
    home = await client.get("/")
    assert home.status_code == 200
    assert "Ada Agent" in home.text and "agent" in home.text
    assert "/settings/api-keys" not in home.text
    page = await client.get("/settings/api-keys")
    assert page.status_code == 403
    assert "cannot open this page" in page.text
    csrf_token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    posted = await client.post("/settings/api-keys",
                               data={"csrf_token": csrf_token, "name": "sneaky"})
    assert posted.status_code == 403
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ApiKey)) == 1


async def test_admin_creates_an_api_key_and_sees_its_secret_once(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf_token = await sign_in_admin(client, tenant)
    home = await client.get("/")
    assert 'href="/settings/api-keys"' in home.text
    page = await client.get("/settings/api-keys")
    assert page.status_code == 200 and "tests" in page.text
    created = await client.post("/settings/api-keys", data={
        "csrf_token": csrf_token, "name": "Zapier <b>sync</b>", "role": "analyst"})
    assert created.status_code == 201
    secret = created.text.split('id="new-secret">')[1].split("<")[0]
    assert secret.startswith("cxp_")
    assert "Zapier &lt;b&gt;sync&lt;/b&gt;" in created.text  # escaped, not markup
    works = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {secret}"})
    assert works.status_code == 200
    assert secret not in (await client.get("/settings/api-keys")).text


async def test_api_key_form_needs_csrf_and_a_valid_name(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    csrf_token = await sign_in_admin(client, tenant)
    forged = await client.post("/settings/api-keys", data={"name": "x", "csrf_token": "nope"})
    assert forged.status_code == 403
    missing = await client.post("/settings/api-keys", data={"name": "x"})
    assert missing.status_code == 403
    empty = await client.post("/settings/api-keys", data={"csrf_token": csrf_token, "name": ""})
    assert empty.status_code == 422
    assert "The key was not created" in empty.text
    bad_role = await client.post("/settings/api-keys", data={
        "csrf_token": csrf_token, "name": "k", "role": "owner"})
    assert bad_role.status_code == 422
    listed = await client.get("/api/v1/api-keys", headers=tenant.headers)
    assert [k["name"] for k in listed.json()["data"]] == ["tests"]


async def test_bearer_requests_need_no_csrf(client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await client.post("/api/v1/users", headers=tenant.headers, json=NEW_USER)
    assert created.status_code == 201
