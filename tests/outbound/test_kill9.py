"""Acceptance: SIGKILL the worker at random points while it sends SMS through Twilio (a
local fake speaking its Messages API), at least 20 times.

No message is lost: every send ends ``sent``, or ``unknown`` (a send caught in flight,
left for review); none is stuck, none failed. The provider receives each idempotency key
at most once, and a ``sent`` send names the very message the provider created for it.

The kill moments come from a seeded generator: the seed is printed (pytest shows it with a
failure) and ``CXPRISM_DURABILITY_SEED=<seed>`` replays the same kill schedule.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

from sqlalchemy import func, select

from cxprism.channels import builtin  # noqa: F401 - registers the connectors
from cxprism.channels.schemas import ChannelCreate
from cxprism.channels.service import ChannelService
from cxprism.customers.identities import Identity, IdentityKind
from cxprism.customers.schemas import Channel, Purpose
from cxprism.customers.service import CustomerService
from cxprism.kit.db import Database
from cxprism.outbound.models import Send
from cxprism.outbound.schemas import Content, SendCreate
from cxprism.outbound.service import SendService
from tests.fixtures.builders import Tenant
from tests.fixtures.fake_twilio import FakeTwilio, fake_twilio

__all__ = ["fake_twilio"]
KILLS = 20
BATCH = 40
PEOPLE = 30
SEED_VARIABLE = "CXPRISM_DURABILITY_SEED"
# Bounds on waits only stop a hung test; they are generous and never a measurement.
READY_SECONDS = 60.0
FINISH_SECONDS = 180.0


def _start_worker(database_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CXPRISM_DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1",
           "CXPRISM_JOB_LEASE_SECONDS": "1", "CXPRISM_SCHEDULER_POLL_SECONDS": "0.05",
           "CXPRISM_RELAY_POLL_SECONDS": "0.05"}
    cli = Path(sys.executable).parent / "cxprism"
    return subprocess.Popen([str(cli), "worker"], env=env, stdout=subprocess.PIPE,
                            stderr=log.open("ab"))


async def _wait_running(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    line = await asyncio.wait_for(asyncio.to_thread(process.stdout.readline), READY_SECONDS)
    assert b"worker running" in line, line


async def _setup(db: Database, tenant: Tenant, twilio: FakeTwilio) -> list[uuid.UUID]:
    async with db.session() as session:
        await ChannelService(session, tenant.workspace_id).create(ChannelCreate(
            kind="twilio_sms", name="SMS", config=twilio.config()))
        customers = CustomerService(session, tenant.workspace_id)
        people = [(await customers.identify([Identity(
            IdentityKind.PHONE, "", f"+1415555{1000 + i:04d}")])).id for i in range(PEOPLE)]
        await session.commit()
    return people


async def _add_sends(db: Database, tenant: Tenant, people: list[uuid.UUID], start: int) -> int:
    async with db.session() as session:
        service = SendService(session, tenant.workspace_id, "kill9-test")
        for number in range(start, start + BATCH):
            await service.submit(SendCreate(
                customer_id=people[number % PEOPLE], cause=f"otp:{number}",
                purpose=Purpose.TRANSACTIONAL, channel=Channel.SMS,
                content=Content(text=f"Your code is {number:06d}")))
        await session.commit()
    return start + BATCH


async def _unfinished(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Send).where(
            Send.status.in_(("queued", "sending", "deferred"))))).scalar_one())


async def test_sigkilled_worker_loses_no_send_and_sends_none_twice(
        db: Database, tenant: Tenant, fake_twilio: FakeTwilio, tmp_path: Path) -> None:
    seed = int(os.environ.get(SEED_VARIABLE) or random.randrange(2**32))
    print(f"kill schedule seed: {seed} (replay with {SEED_VARIABLE}={seed})")
    rng = random.Random(seed)
    people = await _setup(db, tenant, fake_twilio)
    total = await _add_sends(db, tenant, people, 0)
    log = tmp_path / "worker.log"
    kills = 0
    while kills < KILLS:
        worker = _start_worker(db.url, log)
        await _wait_running(worker)
        total = await _add_sends(db, tenant, people, total)  # the stream goes on
        await asyncio.sleep(rng.uniform(0.1, 1.5))
        worker.send_signal(signal.SIGKILL)
        await asyncio.to_thread(worker.wait)
        kills += 1
    worker = _start_worker(db.url, log)
    try:
        await _wait_running(worker)
        deadline = time.monotonic() + FINISH_SECONDS
        while await _unfinished(db) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.2)  # another process's progress: only polling sees it
    finally:
        worker.terminate()
        await asyncio.to_thread(worker.wait)
    await _check(db, fake_twilio, total, kills)


async def _check(db: Database, twilio: FakeTwilio, total: int, kills: int) -> None:
    async with db.session() as session:
        sends = list((await session.execute(select(Send))).scalars())
    assert len(sends) == total
    statuses = Counter(s.status for s in sends)
    assert set(statuses) <= {"sent", "unknown"}, statuses  # none lost, stuck or failed
    twice = {key: sids for key, sids in twilio.by_idempotency_key.items() if len(sids) > 1}
    assert twice == {}, f"sent more than once: {twice}"
    ours = {str(s.id): s for s in sends}
    assert set(twilio.by_idempotency_key) <= set(ours)
    for send in sends:
        if send.status == "sent":
            assert twilio.by_idempotency_key[str(send.id)] == [send.external_id]
    # Only sends in flight at a kill can be unknown: at most one batch per kill.
    assert statuses["unknown"] <= kills * 100, statuses
    reconciled = sum(1 for s in sends if "after a crash" in str(s.history))
    print(f"{total} sends, {kills} kills: {dict(statuses)}; {reconciled} found at the "
          "provider after a crash")
