"""A customer's conversations are in their export and gone with their erasure, files too."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cxprism.config import Settings, get_settings
from cxprism.kit.db import Database
from tests.conversations.helpers import inbound, make_channel, run_jobs
from tests.fixtures.builders import Tenant


@pytest.fixture
def storage_dir(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Jobs read the settings from the environment: point them at the app's store."""
    monkeypatch.setenv("CXPRISM_STORAGE_DIR", str(settings.storage_dir))
    get_settings.cache_clear()
    yield settings.storage_dir
    get_settings.cache_clear()


def stored_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.is_file())


def attachment(data: bytes) -> dict[str, str]:
    return {"filename": "scan.pdf", "content_type": "application/pdf",
            "data": base64.b64encode(data).decode()}


async def test_erasure_deletes_conversations_and_their_files(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, storage_dir: Path) -> None:
    channel = await make_channel(client, tenant.headers)
    await inbound(client, channel, id="a1", text="my passport", thread="a",
                  attachments=[attachment(b"ann's passport"), attachment(b"shared leaflet")],
                  **{"from": "ann@example.com"})
    await inbound(client, channel, id="b1", text="the leaflet", thread="b",
                  attachments=[attachment(b"shared leaflet")], **{"from": "bob@example.com"})
    lookup = await client.get("/api/v1/customers/lookup", headers=tenant.headers,
                              params={"kind": "email", "value": "ann@example.com"})
    ann_id = lookup.json()["id"]
    export = await client.get(f"/api/v1/customers/{ann_id}/export", headers=tenant.headers)
    [mine] = export.json()["conversations"]
    assert mine["messages"][0]["text"] == "my passport"
    files_before = stored_files(storage_dir)
    assert len(files_before) == 2
    erased = await client.post(f"/api/v1/customers/{ann_id}/erase", headers=tenant.headers,
                               json={})
    assert erased.status_code in (200, 202), erased.text
    await run_jobs(db)
    left = (await client.get("/api/v1/conversations", headers=tenant.headers)).json()["data"]
    assert [c["customer_id"] for c in left] != [ann_id] and len(left) == 1  # Bob's
    files_after = stored_files(storage_dir)
    assert len(files_after) == 1  # the leaflet Bob sent too stays; Ann's passport is gone
