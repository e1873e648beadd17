"""The tamper drill: a stored entry edited, deleted, inserted or reordered directly in SQL
makes `cxprism ledger audit` report the exact first index, and checkpoints refuse a log
rewritten underneath them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

from cxprism.cli import app
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.kit.ids import uuid7
from cxprism.ledger import entries
from cxprism.ledger.merkle import leaf_hash
from cxprism.ledger.models import LedgerEntry, LedgerLog, LedgerNode
from cxprism.ledger.service import LedgerService
from tests.fixtures.builders import Tenant
from tests.ledger.helpers import consent_event

runner = CliRunner()
SIZE = 40
Tamper = Callable[[Database, Tenant], Awaitable[None]]


async def build_log(db: Database, tenant: Tenant, size: int = SIZE) -> None:
    async with db.session() as session:
        ledger = LedgerService(session, tenant.workspace_id)
        await ledger.append([consent_event(tenant.workspace_id, n) for n in range(size)])
        await ledger.sign_checkpoint()
        await session.commit()


async def audit(tenant: Tenant) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, app, ["ledger", "audit", "--workspace",
                                                          tenant.slug])
    return result.exit_code, result.output


async def _row(db: Database, tenant: Tenant, index: int) -> LedgerEntry:
    async with db.session() as session:
        found = await session.get(LedgerEntry, (tenant.workspace_id, index))
        assert found is not None
        return found


async def _set(db: Database, tenant: Tenant, index: int, **values: object) -> None:
    async with db.session() as session:
        await session.execute(update(LedgerEntry).where(
            LedgerEntry.workspace_id == tenant.workspace_id, LedgerEntry.idx == index)
            .values(**values))
        await session.commit()


async def _shift(db: Database, tenant: Tenant, first: int, by: int) -> None:
    """Renumber entries from ``first`` on by ``by``, through negative indices so that no
    intermediate row collides with the primary key."""
    where = (LedgerEntry.workspace_id == tenant.workspace_id,)
    async with db.session() as session:
        await session.execute(update(LedgerEntry).where(*where, LedgerEntry.idx >= first)
                              .values(idx=-LedgerEntry.idx - 1 - by))
        await session.execute(update(LedgerEntry).where(*where, LedgerEntry.idx < 0)
                              .values(idx=-LedgerEntry.idx - 1))
        await session.commit()


def edit(index: int, *, with_hash: bool) -> Tamper:
    async def tamper(db: Database, tenant: Tenant) -> None:
        row = await _row(db, tenant, index)
        changed = row.entry.replace(b'"source":"drill"', b'"source":"forged"')
        assert changed != row.entry
        await _set(db, tenant, index, entry=changed,
                   **({"leaf_hash": leaf_hash(changed)} if with_hash else {}))
    return tamper


def delete_at(index: int, *, renumber: bool) -> Tamper:
    async def tamper(db: Database, tenant: Tenant) -> None:
        async with db.session() as session:
            await session.execute(delete(LedgerEntry).where(
                LedgerEntry.workspace_id == tenant.workspace_id, LedgerEntry.idx == index))
            await session.commit()
        if renumber:
            await _shift(db, tenant, index + 1, -1)
    return tamper


def insert_at(index: int) -> Tamper:
    """A forged entry that is well formed in every way it can be on its own."""
    async def tamper(db: Database, tenant: Tenant) -> None:
        previous = await _row(db, tenant, index - 1)
        await _shift(db, tenant, index, +1)
        raw = entries.entry_bytes(
            origin=(await _origin(db, tenant)), index=index, previous=previous.leaf_hash,
            event_id=uuid7(), event_type="consent.changed", seq=999, occurred_at=utcnow(),
            data={"status": "granted"})
        async with db.session() as session:
            session.add(LedgerEntry(workspace_id=tenant.workspace_id, idx=index,
                                    event_id=uuid7(), event_type="consent.changed", entry=raw,
                                    leaf_hash=leaf_hash(raw), created_at=utcnow()))
            await session.commit()
    return tamper


def swap(first: int, second: int) -> Tamper:
    async def tamper(db: Database, tenant: Tenant) -> None:
        a, b = await _row(db, tenant, first), await _row(db, tenant, second)
        await _set(db, tenant, first, event_id=uuid7())  # event ids are unique: park one
        await _set(db, tenant, second, entry=a.entry, leaf_hash=a.leaf_hash,
                   event_id=a.event_id)
        await _set(db, tenant, first, entry=b.entry, leaf_hash=b.leaf_hash, event_id=b.event_id)
    return tamper


async def _origin(db: Database, tenant: Tenant) -> str:
    async with db.session() as session:
        origin = await session.scalar(select(LedgerLog.origin).where(
            LedgerLog.workspace_id == tenant.workspace_id))
        assert origin is not None
        return origin


DRILLS = {
    "edit": (edit(9, with_hash=False), 9),
    "edit with its hash": (edit(9, with_hash=True), 9),
    "edit the last of a stored subtree, with its hash": (edit(15, with_hash=True), 15),
    "edit the last entry, with its hash": (edit(SIZE - 1, with_hash=True), SIZE - 1),
    "edit the first entry": (edit(0, with_hash=True), 0),
    "delete": (delete_at(21, renumber=False), 21),
    "delete and renumber": (delete_at(21, renumber=True), 21),
    "delete the last entry": (delete_at(SIZE - 1, renumber=False), SIZE - 1),
    "insert": (insert_at(17), 17),
    "reorder": (swap(5, 30), 5),
    "reorder neighbours": (swap(33, 34), 33),
}


@pytest.mark.parametrize("drill", sorted(DRILLS))
async def test_audit_reports_the_exact_first_index(
        drill: str, db: Database, tenant: Tenant, cli_env: None) -> None:
    await build_log(db, tenant)
    assert await audit(tenant) == (0, f"intact: {SIZE} entries recomputed, every hash and "
                                      "checkpoint matches\n")
    tamper, index = DRILLS[drill]
    await tamper(db, tenant)
    code, output = await audit(tenant)
    assert code == 1, output
    assert output.startswith(f"TAMPERED at index {index}:"), output


async def test_a_changed_stored_subtree_is_reported_at_its_first_leaf(
        db: Database, tenant: Tenant, cli_env: None) -> None:
    await build_log(db, tenant)
    async with db.session() as session:
        await session.execute(update(LedgerNode).where(
            LedgerNode.workspace_id == tenant.workspace_id, LedgerNode.level == 4,
            LedgerNode.idx == 1).values(hash=b"\x00" * 32))
        await session.commit()
    code, output = await audit(tenant)
    assert (code, output.split(":")[0]) == (1, "TAMPERED at index 16"), output


async def test_checkpoints_refuse_a_log_rewritten_underneath(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await build_log(db, tenant)
    async with db.session() as session:  # one more entry, so a new checkpoint is due
        await LedgerService(session, tenant.workspace_id).append(
            [consent_event(tenant.workspace_id, SIZE)])
        await session.execute(update(LedgerNode).where(
            LedgerNode.workspace_id == tenant.workspace_id, LedgerNode.level == 4,
            LedgerNode.idx == 0).values(hash=b"\x01" * 32))
        await session.commit()
    refused = await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "ledger_inconsistent"
    latest = await client.get("/api/v1/ledger/checkpoints/latest", headers=tenant.headers)
    assert latest.json()["size"] == SIZE  # nothing was signed


async def test_checkpoints_refuse_a_log_that_lost_entries(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await build_log(db, tenant)
    async with db.session() as session:
        log = await session.get(LedgerLog, tenant.workspace_id)
        assert log is not None
        log.size, log.frontier = 32, log.frontier[:32]  # the head of a 32-leaf tree
        await session.commit()
    refused = await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)
    assert refused.status_code == 409, refused.text
    assert "lost entries" in refused.json()["error"]["message"]
