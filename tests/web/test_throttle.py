"""Password guessing is throttled per account and per address, in the database."""

from __future__ import annotations

import httpx

from cxprism.web import throttle
from tests.fixtures.builders import ADMIN_PASSWORD, Tenant
from tests.web.helpers import submit_login

W = throttle.WINDOW_SECONDS


async def test_sixth_attempt_after_five_failures_is_refused_even_if_right(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for _ in range(throttle.ACCOUNT_LIMIT):
        failed = await submit_login(client, tenant.slug, tenant.admin_email, "wrong guess!")
        assert failed.status_code == 401
    refused = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 2 * W
    assert "Too many failed sign-in attempts" in refused.text
    # Case and spaces do not make it a different account.
    variant = await submit_login(client, " ACME ", tenant.admin_email.upper(), ADMIN_PASSWORD)
    assert variant.status_code == 429
    # Another account from the same address is still below the address limit.
    other = await submit_login(client, tenant.slug, "someone@acme.example", "guess")
    assert other.status_code == 401


async def test_unknown_accounts_are_throttled_the_same(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for _ in range(throttle.ACCOUNT_LIMIT):
        await submit_login(client, "nowhere", "ghost@nowhere.example", "guess")
    refused = await submit_login(client, "nowhere", "ghost@nowhere.example", "guess")
    assert refused.status_code == 429


async def test_one_address_guessing_many_accounts_is_refused(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for n in range(throttle.ADDRESS_LIMIT):
        failed = await submit_login(client, tenant.slug, f"user{n}@acme.example", "guess")
        assert failed.status_code == 401
    refused = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
    assert refused.status_code == 429


async def test_success_clears_the_accounts_failures(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for _ in range(throttle.ACCOUNT_LIMIT - 1):
        await submit_login(client, tenant.slug, tenant.admin_email, "wrong guess!")
    ok = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
    assert ok.status_code == 303
    client.cookies.clear()
    for _ in range(throttle.ACCOUNT_LIMIT - 1):
        again = await submit_login(client, tenant.slug, tenant.admin_email, "wrong guess!")
        assert again.status_code == 401


def test_wait_is_zero_below_the_limit() -> None:
    assert throttle.wait_seconds(2, 2, 5, now=10 * W + 1) == 0


def test_failures_in_the_current_window_count_through_the_next() -> None:
    now = 10 * W + 100
    assert throttle.wait_seconds(0, 5, 5, now) == (W - 100) + W


def test_failures_straddling_a_boundary_wait_for_the_old_window_to_drop() -> None:
    now = 10 * W + 60
    assert throttle.wait_seconds(3, 2, 5, now) == W - 60


def test_old_windows_stop_counting() -> None:
    # Failures of two windows ago are not consulted: previous and current are empty.
    assert throttle.wait_seconds(0, 0, 5, now=12 * W) == 0
