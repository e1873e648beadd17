"""Signing in through the real login form, as a browser would."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import func, select

from cxprism.kit.db import Database
from cxprism.workspaces.auth import SESSION_COOKIE
from cxprism.workspaces.models import WebSession
from tests.fixtures.builders import ADMIN_PASSWORD, Tenant

AGENT_PASSWORD = "agent password that is long"
_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    assert found is not None, "the page has no csrf_token field"
    return found.group(1)


async def submit_login(client: httpx.AsyncClient, workspace: str, email: str, password: str,
                       *, next_path: str | None = None) -> httpx.Response:
    """GET the form (for its CSRF cookie and field) and POST it back."""
    form_page = await client.get("/login")
    assert form_page.status_code == 200
    data = {"csrf_token": csrf_from(form_page.text), "workspace": workspace, "email": email,
            "password": password}
    if next_path is not None:
        data["next"] = next_path
    return await client.post("/login", data=data)


async def sign_in_admin(client: httpx.AsyncClient, tenant: Tenant) -> str:
    """Signs the client in as the tenant's admin; returns the session's CSRF token."""
    response = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
    assert response.status_code == 303, response.text
    return await session_csrf(client)


async def session_csrf(client: httpx.AsyncClient) -> str:
    home = await client.get("/")
    assert home.status_code == 200, home.status_code
    return csrf_from(home.text)


async def add_user(client: httpx.AsyncClient, tenant: Tenant, role: str,
                   email: str = "agent@acme.example") -> str:
    response = await client.post("/api/v1/users", headers=tenant.headers, json={
        "email": email, "name": "Ada Agent", "role": role, "password": AGENT_PASSWORD})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def session_token(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get(SESSION_COOKIE)


async def count_sessions(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(WebSession)) or 0)


@asynccontextmanager
async def with_cookie(client: httpx.AsyncClient,
                      token: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser on the same app, holding only this session cookie (or none)."""
    cookies = {SESSION_COOKIE: token} if token else {}
    async with httpx.AsyncClient(transport=client._transport, base_url=client.base_url,
                                 cookies=cookies) as other:
        yield other
