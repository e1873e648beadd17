"""The chat widget in a real browser, on a shop page of another origin, end to end.

The page carries a Segment-style ``analytics`` object; the widget joins the visitor to
its anonymousId, the visitor's message lands in the inbox, and the agent's reply (hostile
markup included) shows up live in the page as plain text.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from cxprism.app import create_app
from cxprism.config import Settings
from cxprism.kit.db import Database
from tests.conversations.helpers import run_jobs
from tests.e2e.test_login_browser import CHROMIUM_ARGS, chromium  # noqa: F401 - a fixture
from tests.fixtures.builders import Tenant
from tests.fixtures.live import free_port, serve_in_loop

SCREENSHOTS = Path("/tmp")
HOSTILE = '<img src=x onerror="document.title=\'pwned\'">Your parcel ships today'


async def _serve_page(html: str, port: int) -> asyncio.Server:
    """The shop's own site: one page, from its own origin."""
    body = html.encode()

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
                     b"Connection: close\r\nContent-Length: " + str(len(body)).encode()
                     + b"\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(answer, "127.0.0.1", port)


@pytest.fixture
async def cx(settings: Settings, db: Database) -> AsyncIterator[str]:
    port = free_port()
    app = create_app(settings.model_copy(update={"base_url": f"http://127.0.0.1:{port}"}),
                     database=db, run_workers=False)
    async with serve_in_loop(app, port=port) as base:
        yield base


async def test_a_visitor_chats_from_the_widget_and_sees_the_reply_live(
        chromium: str, cx: str, client: httpx.AsyncClient, db: Database,  # noqa: F811
        tenant: Tenant) -> None:
    from playwright.async_api import async_playwright

    shop_port = free_port()
    shop = f"http://127.0.0.1:{shop_port}"
    channel = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": "webchat", "name": "Shop", "config": {
            "site": "shop.acme.test", "allowed_origins": [shop], "greeting": "Hello! Ask away."}})
    assert channel.status_code == 201, channel.text
    page_html = (
        "<!doctype html><html><head><title>Acme shop</title></head><body><h1>Acme shop</h1>"
        "<script>window.analytics={user:function(){return{anonymousId:function(){"
        "return 'anon-browser-1';}};}};</script>"
        f'<script src="{cx}/chat/widget.js" data-channel="{channel.json()["id"]}"></script>'
        "</body></html>")
    server = await _serve_page(page_html, shop_port)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = await browser.new_page(viewport={"width": 900, "height": 700})
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        try:
            await page.goto(shop)
            await page.click(".cxprism-chat-launcher")
            await page.wait_for_selector("text=Hello! Ask away.")
            await page.fill(".cxprism-chat-form input", "Is the blue kettle in stock?")
            await page.click(".cxprism-chat-form button")
            await page.wait_for_selector(".cxprism-chat-log li.inbound:not(.pending)")
            [conversation] = (await client.get("/api/v1/conversations",
                                               headers=tenant.headers)).json()["data"]
            customer = await client.get(f"/api/v1/customers/{conversation['customer_id']}",
                                        headers=tenant.headers)
            kinds = {(i["kind"], i["value"]) for i in customer.json()["identities"]}
            assert ("anonymous_id", "anon-browser-1") in kinds
            reply = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                                      headers=tenant.headers, json={"text": HOSTILE})
            assert reply.status_code == 202
            await run_jobs(db)
            shown = page.locator(".cxprism-chat-log li.outbound", has_text="parcel ships")
            await shown.wait_for()
            assert await shown.text_content() == HOSTILE  # shown as text, never as markup
            assert await page.locator(".cxprism-chat-log img").count() == 0
            assert await page.title() == "Acme shop"
            await page.screenshot(path=str(SCREENSHOTS / "cxprism-chat-widget.png"))
            assert errors == []
        finally:
            await browser.close()
            server.close()
