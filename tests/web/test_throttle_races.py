"""Parallel guesses cannot run more password checks than the throttle's limit."""

from __future__ import annotations

import asyncio
import collections

import httpx
from sqlalchemy import select

from cxprism.kit.db import Database
from cxprism.web import throttle
from cxprism.web.models import LoginAttempt
from tests.fixtures.builders import ADMIN_PASSWORD, Tenant
from tests.web.helpers import csrf_from, submit_login

PARALLEL = 40


async def test_parallel_wrong_passwords_get_at_most_limit_password_checks(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    form = await client.get("/login")
    token = csrf_from(form.text)

    async def guess(n: int) -> int:
        response = await client.post("/login", data={
            "csrf_token": token, "workspace": tenant.slug, "email": tenant.admin_email,
            "password": f"wrong guess {n}"})
        return response.status_code

    codes = collections.Counter(await asyncio.gather(*(guess(n) for n in range(PARALLEL))))
    # A 401 means the password was really checked; every other attempt was refused first.
    assert codes == {401: throttle.ACCOUNT_LIMIT, 429: PARALLEL - throttle.ACCOUNT_LIMIT}
    after = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
    assert after.status_code == 429


async def test_refused_attempts_are_not_counted(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    for _ in range(throttle.ACCOUNT_LIMIT + 3):
        await submit_login(client, tenant.slug, tenant.admin_email, "wrong guess!")
    assert await _failures(db, throttle.account_key(tenant.slug, tenant.admin_email)) == (
        throttle.ACCOUNT_LIMIT)


async def test_a_successful_sign_in_is_not_held_against_the_address(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    failed = await submit_login(client, tenant.slug, "nobody@acme.example", "guess")
    assert failed.status_code == 401
    ok = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
    assert ok.status_code == 303
    assert await _failures(db, throttle.address_key("127.0.0.1")) == 1
    assert await _failures(db, throttle.account_key(tenant.slug, tenant.admin_email)) == 0


async def _failures(db: Database, key: str) -> int:
    async with db.session() as session:
        counts = await session.scalars(
            select(LoginAttempt.failures).where(LoginAttempt.key == key))
        return sum(counts)
