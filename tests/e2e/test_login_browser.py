"""A real browser signs in, creates an API key and signs out, against a real server.

Drives Debian's chromium package (``apt-get install chromium``) through Playwright; no
browser is ever downloaded. Without chromium this test fails: CI must install it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cxprism.kit.db import Database
from tests.fixtures.builders import ADMIN_PASSWORD, Tenant, make_tenant
from tests.fixtures.live import free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
SCREENSHOTS = Path("/tmp")



def _wait_until_up(base_url: str, server: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if httpx.get(f"{base_url}/login", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the server did not answer at {base_url} within {timeout}s")


@pytest.fixture
def chromium() -> str:
    """Fails (never skips) without the browser, so a CI image missing it is noticed."""
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: run `apt-get install -y chromium` (Debian's package; "
                    "never `playwright install`).")
    return str(CHROMIUM)


@pytest.fixture
def server(database_url: str) -> Iterator[str]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CXPRISM_DATABASE_URL": database_url,
           "CXPRISM_EMBEDDED_WORKERS": "false", "CXPRISM_BASE_URL": base_url,
           "CXPRISM_SECRET_KEY": "e2e-secret-key-not-for-production",
           "CXPRISM_SMTP_ENABLED": "false"}
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "cxprism.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"], env=env)
    try:
        _wait_until_up(base_url, process, timeout=30)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
async def seeded(db: Database) -> Tenant:
    return await make_tenant(db, "acme")


async def test_sign_in_create_key_sign_out(chromium: str, server: str,
                                           seeded: Tenant) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium,
                                                   args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 1100, "height": 720})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        try:
            await page.goto(f"{server}/")  # signed out: sent to the sign-in form
            assert page.url.startswith(f"{server}/login")
            await page.screenshot(path=str(SCREENSHOTS / "cxprism-login.png"))
            await page.fill("#workspace", seeded.slug)
            await page.fill("#email", seeded.admin_email)
            await page.fill("#password", ADMIN_PASSWORD)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{server}/")
            assert await page.text_content("h1") == "Acme"
            await page.screenshot(path=str(SCREENSHOTS / "cxprism-home.png"))
            cookies = await page.context.cookies()
            session = next(c for c in cookies if c["name"] == "cxprism_session")
            assert session["httpOnly"] and session["sameSite"] == "Lax"

            await page.click("text=Settings")
            await page.wait_for_url(f"{server}/settings/api-keys")
            await page.fill("#key-name", "Browser key")
            await page.select_option("#key-role", "analyst")
            await page.click("text=Create key")
            secret = (await page.text_content("#new-secret") or "").strip()
            assert secret.startswith("cxp_")
            assert await page.locator("td", has_text="Browser key").count() == 1
            await page.screenshot(path=str(SCREENSHOTS / "cxprism-api-keys.png"))

            await page.click("text=Sign out")
            await page.wait_for_url(f"{server}/login")
            await page.goto(f"{server}/")
            assert page.url.startswith(f"{server}/login")
            assert errors == []  # e.g. nothing blocked by the Content-Security-Policy
        finally:
            await browser.close()
    async with httpx.AsyncClient(base_url=server) as client:
        works = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {secret}"})
        assert works.status_code == 200
