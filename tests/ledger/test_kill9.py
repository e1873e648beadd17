"""SIGKILL the worker that appends to the ledger: each event becomes exactly one leaf.

Batches of ledgered events are committed to the outbox while a real `cxprism worker`
(relay and consumers) appends them, and the worker is killed at random moments and
restarted. At the end every event is in the log exactly once, in a gap-free order, the
audit finds nothing, and a new checkpoint extends the ones signed between kills.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cxprism.bus import events
from cxprism.bus.models import OutboxEvent
from cxprism.kit.db import Database
from cxprism.ledger.models import LedgerEntry
from cxprism.ledger.proofs import ProofService
from cxprism.ledger.service import LedgerService
from tests.fixtures.builders import Tenant

ROUNDS = 4
PER_ROUND = 1000


def start_worker(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CXPRISM_DATABASE_URL": database_url,
           "CXPRISM_SECRET_KEY": "test-secret-key-not-for-production"}
    cli = Path(sys.executable).parent / "cxprism"
    return subprocess.Popen([str(cli), "worker"], env=env, stdout=log.open("ab"),
                            stderr=subprocess.STDOUT)


async def record_consents(db: Database, tenant: Tenant, count: int) -> None:
    async with db.session() as session:
        for n in range(count):
            events.record(session, tenant.workspace_id, "consent.changed", {
                "customer_id": str(uuid.UUID(int=n % 97 + 1)), "channel": "sms",
                "purpose": "marketing", "status": "granted", "source": "kill9",
                "actor_id": None})
        await session.commit()


async def ledgered(db: Database, tenant: Tenant) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.workspace_id == tenant.workspace_id)) or 0)


async def expected_ids(db: Database, tenant: Tenant) -> set[uuid.UUID]:
    async with db.session() as session:
        rows = await session.execute(select(OutboxEvent.id).where(
            OutboxEvent.workspace_id == tenant.workspace_id,
            OutboxEvent.type.in_(["consent.changed", "user.created", "api_key.created"])))
        return set(rows.scalars())


async def until_appending(db: Database, tenant: Tenant, before: int) -> None:
    """Kills land while the worker works, not while it starts up."""
    for _ in range(600):  # a bound only against a hang: 60 s
        if await ledgered(db, tenant) > before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the worker appended nothing")


async def sign(db: Database, tenant: Tenant) -> int:
    async with db.session() as session:
        checkpoint = await LedgerService(session, tenant.workspace_id).sign_checkpoint()
        await session.commit()
        return checkpoint.size


@pytest.mark.slow
async def test_sigkill_during_appends_leaves_each_event_once_in_an_intact_log(
        db: Database, tenant: Tenant, database_url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("CXPRISM_TEST_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    print(f"CXPRISM_TEST_SEED={seed}")
    log = tmp_path / "worker.log"
    signed = []
    for _round in range(ROUNDS):
        await record_consents(db, tenant, PER_ROUND)
        before = await ledgered(db, tenant)
        worker = start_worker(database_url, log)
        try:
            await until_appending(db, tenant, before)
            await asyncio.sleep(rng.uniform(0.0, 0.4))
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
        finally:
            if worker.poll() is None:
                worker.kill()
        signed.append(await sign(db, tenant))  # between kills: whatever was committed
    total = len(await expected_ids(db, tenant))
    worker = start_worker(database_url, log)
    try:
        for _ in range(1200):  # a bound only against a hang: 120 s
            if await ledgered(db, tenant) >= total:
                break
            await asyncio.sleep(0.1)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    async with db.session() as session:
        rows = (await session.execute(select(LedgerEntry.idx, LedgerEntry.event_id).where(
            LedgerEntry.workspace_id == tenant.workspace_id))).all()
        report = await ProofService(LedgerService(session, tenant.workspace_id)).audit()
    assert sorted(idx for idx, _ in rows) == list(range(total)), log.read_text()[-3000:]
    assert {event_id for _, event_id in rows} == await expected_ids(db, tenant)
    assert report.intact, report.finding
    assert await sign(db, tenant) == total  # consistent with every checkpoint before it
    print("checkpoint sizes at the kills:", signed, "of", total)
    assert signed == sorted(signed)
