"""The official Segment Python SDK, pointed at a real cxprism server over loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from segment.analytics.client import Client

from cxprism.app import create_server_app
from cxprism.config import Settings
from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.fixtures.live import serve_in_thread
from tests.tracking.helpers import drain, make_source, stored_count


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    """cxprism on a real socket, in its own thread and event loop, as ``cxprism serve``
    runs it: the Segment API answered in front of the application."""
    with serve_in_thread(create_server_app(settings, run_workers=False)) as base:
        yield base


def _send_with_the_sdk(host: str, write_key: str, *, gzip: bool) -> list[Any]:
    errors: list[Any] = []
    client = Client(write_key, host=host, gzip=gzip, max_retries=2, sync_mode=False,
                    on_error=lambda error, batch: errors.append(error), upload_interval=0.05)
    client.page(anonymous_id="device-1", name="Pricing", properties={"path": "/pricing"})
    client.identify("user-1", {"email": "sdk@example.com", "plan": "pro"},
                    anonymous_id="device-1")
    client.track("user-1", "Order Completed", {"revenue": 42.5, "currency": "EUR"})
    client.group("user-1", "account-1", {"name": "Acme"})
    client.alias("device-2", "user-1")
    client.flush()
    client.join()
    return errors


@pytest.mark.parametrize("gzip", [False, True])
async def test_the_official_sdk_calls_arrive_and_are_stored_exactly_once(
        live_server: str, db: Database, tenant: Tenant, gzip: bool) -> None:
    source = await make_source(db, tenant)
    errors = await asyncio.to_thread(_send_with_the_sdk, live_server, source.write_key,
                                     gzip=gzip)
    assert errors == []
    assert await stored_count(db, tenant.workspace_id) == 5
    await drain(db)
    async with httpx.AsyncClient(base_url=live_server, headers=tenant.headers) as api:
        events = (await api.get("/api/v1/events")).json()["data"]
        assert sorted(e["type"] for e in events) == [
            "alias", "group", "identify", "page", "track"]
        track = next(e for e in events if e["type"] == "track")
        assert track["properties"] == {"revenue": 42.5, "currency": "EUR"}
        assert track["context"]["library"]["name"] == "analytics-python"
        found = await api.get("/api/v1/customers/lookup",
                              params={"kind": "email", "value": "sdk@example.com"})
        timeline = (await api.get(f"/api/v1/customers/{found.json()['id']}/timeline")).json()
    assert len(timeline["data"]) == 5  # the anonymous page view joined after identify


async def test_the_sdk_sees_a_bad_write_key_as_an_error(live_server: str, db: Database,
                                                        tenant: Tenant) -> None:
    errors = await asyncio.to_thread(_send_with_the_sdk, live_server, "wk_nope_nope", gzip=False)
    assert errors
    assert await stored_count(db) == 0
