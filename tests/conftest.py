from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from cxprism.app import create_app
from cxprism.config import Settings, get_settings
from cxprism.kit.db import Database
from cxprism.tracking.gateway import close_gateway
from tests.fixtures.builders import Tenant, make_tenant

pytest_plugins = ["tests.fixtures.database"]

os.environ.setdefault("CXPRISM_SECRET_KEY", "test-secret-key-not-for-production")
# The fakes the tests call listen on 127.0.0.1, which the SSRF guard refuses otherwise.
os.environ.setdefault("CXPRISM_OUTBOUND_HTTP_ALLOW", "127.0.0.1/32")


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, embedded_workers=False,
                    secret_key="test-secret-key-not-for-production", max_request_bytes=65536,
                    smtp_enabled=False, storage_dir=tmp_path / "attachments")


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CLI commands in this test read the test database (they build their own settings)."""
    monkeypatch.setenv("CXPRISM_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
async def app(settings: Settings, db: Database) -> AsyncIterator[FastAPI]:
    app = create_app(settings, database=db, run_workers=False)
    yield app
    await close_gateway(app.state)  # the lifespan's part that tests, without one, need


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    return await make_tenant(db, "acme")


@pytest.fixture
async def other_tenant(db: Database) -> Tenant:
    return await make_tenant(db, "globex")
