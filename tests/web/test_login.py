"""Signing in and out of the web UI: cookies, CSRF, generic failures, redirects."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from cxprism.app import create_app
from cxprism.config import Settings
from cxprism.kit.db import Database
from cxprism.web.csrf import LOGIN_CSRF_COOKIE
from cxprism.web.pages import safe_next
from cxprism.workspaces.auth import SESSION_COOKIE
from tests.fixtures.builders import ADMIN_PASSWORD, Tenant
from tests.web.helpers import (
    count_sessions,
    csrf_from,
    session_csrf,
    session_token,
    sign_in_admin,
    submit_login,
    with_cookie,
)


def session_set_cookie(response: httpx.Response) -> str:
    found = [h for h in response.headers.get_list("set-cookie")
             if h.startswith(f"{SESSION_COOKIE}=")]
    assert len(found) == 1, response.headers.get_list("set-cookie")
    return found[0]


async def test_sign_in_sets_a_secure_session_cookie_and_shows_home(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    response = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = session_set_cookie(response).lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "max-age=43200" in cookie
    assert "secure" not in cookie  # plain-http base URL (development)
    assert await count_sessions(db) == 1
    home = await client.get("/")
    assert home.status_code == 200
    assert "Acme" in home.text and "Admin" in home.text and "admin" in home.text


async def test_session_cookie_is_secure_when_base_url_is_https(
        database_url: str, db: Database, tenant: Tenant) -> None:
    settings = Settings(database_url=database_url, embedded_workers=False,
                        secret_key="test-secret-key-not-for-production",
                        base_url="https://cx.example.com", smtp_enabled=False)
    app = create_app(settings, database=db, run_workers=False)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
        form_page = await client.get("/login")
        assert "secure" in form_page.headers["set-cookie"].lower()
        response = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD)
        assert response.status_code == 303
        cookie = session_set_cookie(response).lower()
        assert "; secure" in cookie and "httponly" in cookie and "samesite=lax" in cookie


@pytest.mark.parametrize("case", ["wrong password", "unknown user", "wrong workspace"])
async def test_failures_look_the_same(client: httpx.AsyncClient, tenant: Tenant, db: Database,
                                      case: str) -> None:
    workspace, email, password = tenant.slug, tenant.admin_email, ADMIN_PASSWORD
    if case == "wrong password":
        password = "not the password at all"
    elif case == "unknown user":
        email = "nobody@acme.example"
    else:
        workspace = "nowhere"
    response = await submit_login(client, workspace, email, password)
    assert response.status_code == 401
    assert session_token(client) is None
    assert await count_sessions(db) == 0
    # Same page whatever was wrong, apart from echoing what was typed.
    normalised = response.text.replace(email, "E").replace(workspace, "W")
    normalised = normalised.replace(csrf_from(response.text), "T")
    reference = await submit_login(client, "wsx", "ex@x.example", "nopenopenope")
    expected = reference.text.replace("ex@x.example", "E").replace("wsx", "W")
    assert normalised == expected.replace(csrf_from(reference.text), "T")
    assert "Wrong workspace, email or password." in response.text


async def test_failed_sign_in_keeps_no_password_in_the_page(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    response = await submit_login(client, tenant.slug, tenant.admin_email, "s3cret-guess-xyz")
    assert response.status_code == 401
    assert "s3cret-guess-xyz" not in response.text


async def _post_login(client: httpx.AsyncClient, tenant: Tenant,
                      token: str | None) -> httpx.Response:
    data = {"workspace": tenant.slug, "email": tenant.admin_email, "password": ADMIN_PASSWORD}
    if token is not None:
        data["csrf_token"] = token
    return await client.post("/login", data=data)


async def test_login_without_csrf_is_refused(client: httpx.AsyncClient, tenant: Tenant,
                                             db: Database) -> None:
    await client.get("/login")  # has the cookie, but the form field is missing
    response = await _post_login(client, tenant, None)
    assert response.status_code == 403
    assert SESSION_COOKIE not in response.headers.get("set-cookie", "")
    assert await count_sessions(db) == 0


async def test_login_with_forged_or_mismatched_csrf_is_refused(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    forged = "abc.1700000000.bm90LWEtcmVhbC1zaWduYXR1cmU"
    client.cookies.set(LOGIN_CSRF_COOKIE, forged, path="/login")
    assert (await _post_login(client, tenant, forged)).status_code == 403
    client.cookies.clear()
    genuine = csrf_from((await client.get("/login")).text)
    async with with_cookie(client, None) as elsewhere:
        other = csrf_from((await elsewhere.get("/login")).text)
    assert other != genuine
    assert (await _post_login(client, tenant, other)).status_code == 403
    client.cookies.clear()  # the field alone, without its cookie
    assert (await _post_login(client, tenant, genuine)).status_code == 403
    assert await count_sessions(db) == 0


async def test_sign_out_needs_csrf_then_kills_the_server_side_session(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    csrf_token = await sign_in_admin(client, tenant)
    old_cookie = session_token(client)
    assert old_cookie is not None
    refused = await client.post("/logout", data={"csrf_token": "wrong"})
    assert refused.status_code == 403
    assert (await client.post("/logout")).status_code == 403
    assert (await client.get("/")).status_code == 200  # still signed in
    response = await client.post("/logout", data={"csrf_token": csrf_token})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    assert await count_sessions(db) == 0
    async with with_cookie(client, old_cookie) as replaying:
        assert (await replaying.get("/")).status_code == 303
        assert (await replaying.get("/api/v1/users")).status_code == 401


async def test_signing_in_again_rotates_the_session(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    await sign_in_admin(client, tenant)
    first = session_token(client)
    await sign_in_admin(client, tenant)
    second = session_token(client)
    assert first and second and first != second
    assert await count_sessions(db) == 1
    async with with_cookie(client, first) as stale:
        assert (await stale.get("/")).status_code == 303


async def test_home_redirects_to_login_when_signed_out(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/"
    deep = await client.get("/settings/api-keys")
    assert deep.headers["location"] == "/login?next=/settings/api-keys"


@pytest.mark.parametrize("attempt", [
    "https://evil.example/", "//evil.example/x", "/\\evil.example", "\\\\evil.example",
    "javascript:alert(1)", "http:/evil.example", "/\tevil", "evil.example", ""])
async def test_next_never_leaves_the_site(client: httpx.AsyncClient, tenant: Tenant,
                                          attempt: str) -> None:
    response = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD,
                                  next_path=attempt)
    assert response.status_code == 303
    assert response.headers["location"] == "/"


async def test_next_local_path_is_followed(client: httpx.AsyncClient, tenant: Tenant) -> None:
    page = await client.get("/login", params={"next": "/settings/api-keys?tab=1"})
    assert 'value="/settings/api-keys?tab=1"' in page.text
    response = await submit_login(client, tenant.slug, tenant.admin_email, ADMIN_PASSWORD,
                                  next_path="/settings/api-keys?tab=1")
    assert response.headers["location"] == "/settings/api-keys?tab=1"


def test_safe_next_rules() -> None:
    assert safe_next("/a/b?c=d#e") == "/a/b?c=d#e"
    for bad in (None, "//x", "/\\x", "https://x", "x", "/a\nb", "/" + "a" * 1001):
        assert safe_next(bad) == "/"


async def test_pages_carry_security_headers(client: httpx.AsyncClient, tenant: Tenant) -> None:
    await sign_in_admin(client, tenant)
    for path in ("/login?next=/", "/", "/settings/api-keys"):
        response = await client.get(path, follow_redirects=True)
        csp = response.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"]
        assert response.headers["cache-control"] == "no-store"


async def test_static_css_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/static/app.css")
    assert response.status_code == 200
    assert "text/css" in response.headers["content-type"]


@pytest.fixture
async def signed_in(client: httpx.AsyncClient, tenant: Tenant) -> AsyncIterator[str]:
    yield await sign_in_admin(client, tenant)


async def test_session_csrf_token_is_stable_per_session(
        client: httpx.AsyncClient, signed_in: str) -> None:
    assert await session_csrf(client) == signed_in
