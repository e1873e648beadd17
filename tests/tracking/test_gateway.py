"""The write-key cache: one lookup for concurrent requests, refreshed before it expires."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import Database
from cxprism.kit.errors import Unauthorized
from cxprism.tracking import gateway as gateway_module
from cxprism.tracking.gateway import KEY_CACHE_SECONDS, KEY_REFRESH_SECONDS, Gateway
from cxprism.workspaces.auth import SourceCredential
from cxprism.workspaces.service import WorkspaceService
from tests.fixtures.builders import Tenant
from tests.tracking.helpers import Source, make_source


@pytest.fixture
async def source(db: Database, tenant: Tenant) -> Source:
    return await make_source(db, tenant)


@pytest.fixture
async def gateway(db: Database) -> AsyncIterator[Gateway]:
    own = Gateway(db)
    try:
        yield own
    finally:
        await own.ingestor.close()


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every write key the gateway asks the database for, as it asks."""
    asked: list[str] = []
    real = gateway_module.source_for_write_key

    async def counted(session: AsyncSession, write_key: str) -> SourceCredential:
        asked.append(write_key)
        await asyncio.sleep(0.01)  # long enough for the other requests to arrive meanwhile
        return await real(session, write_key)

    monkeypatch.setattr(gateway_module, "source_for_write_key", counted)
    return asked


def _age_entries(gateway: Gateway, seconds: float) -> None:
    for digest, (at, credential) in list(gateway._keys.items()):
        gateway._keys[digest] = (at - seconds, credential)


async def test_concurrent_requests_with_a_new_key_share_one_lookup(
        gateway: Gateway, source: Source, lookups: list[str], tenant: Tenant) -> None:
    found = await asyncio.gather(*(gateway.credential(source.write_key) for _ in range(50)))
    assert lookups == [source.write_key]
    assert {c.source_id for c in found} == {source.id}
    assert {c.workspace_id for c in found} == {tenant.workspace_id}
    await gateway.credential(source.write_key)
    assert len(lookups) == 1  # cached


async def test_a_bad_key_is_refused_to_every_waiter_and_never_cached(
        gateway: Gateway, lookups: list[str]) -> None:
    results: list[Any] = await asyncio.gather(
        *(gateway.credential("wk_nonsense") for _ in range(10)), return_exceptions=True)
    assert all(isinstance(r, Unauthorized) for r in results)
    assert len(lookups) == 1
    with pytest.raises(Unauthorized):
        await gateway.credential("wk_nonsense")
    assert len(lookups) == 2


async def test_a_key_in_use_is_looked_up_again_before_it_expires(
        gateway: Gateway, source: Source, lookups: list[str]) -> None:
    await gateway.credential(source.write_key)
    _age_entries(gateway, KEY_REFRESH_SECONDS + 1)
    answers = await asyncio.gather(*(gateway.credential(source.write_key) for _ in range(20)))
    assert {a.source_id for a in answers} == {source.id}  # answered from the cache at once
    assert len(lookups) == 2  # and one refresh for all of them
    await asyncio.gather(*gateway._lookups.values())
    await gateway.credential(source.write_key)
    assert len(lookups) == 2  # the refreshed entry is fresh


async def test_an_expired_entry_is_not_used(
        gateway: Gateway, source: Source, lookups: list[str]) -> None:
    await gateway.credential(source.write_key)
    _age_entries(gateway, KEY_CACHE_SECONDS + 1)
    await gateway.credential(source.write_key)
    assert len(lookups) == 2


async def test_a_refresh_that_finds_the_source_revoked_drops_the_entry(
        db: Database, gateway: Gateway, source: Source, tenant: Tenant,
        lookups: list[str]) -> None:
    await gateway.credential(source.write_key)
    async with db.session() as session:
        await WorkspaceService(session, tenant.workspace_id).revoke_source(source.id)
        await session.commit()
    _age_entries(gateway, KEY_REFRESH_SECONDS + 1)
    await gateway.credential(source.write_key)  # still cached: its commit will refuse it
    await asyncio.gather(*gateway._lookups.values(), return_exceptions=True)
    with pytest.raises(Unauthorized):
        await gateway.credential(source.write_key)
