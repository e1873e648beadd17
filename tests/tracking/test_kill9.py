"""A 200 means committed: SIGKILL the server mid-stream, lose no acknowledged event.

A real ``cxprism serve`` process takes concurrent batches; it is killed with SIGKILL at
random moments and restarted. The client resends every batch it got no 200 for (as the
SDKs do). At the end every message is stored exactly once, and every acknowledged one
was already stored when it was acknowledged (it survived the kill after it).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import httpx
import pytest

from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.fixtures.live import free_port, start_serve, wait_ready
from tests.tracking.helpers import Source, make_source, stored_count, track

KILLS = 6
BATCHES = 1200  # enough work that every kill lands while requests are in flight
PER_BATCH = 25


async def _send_until_killed(base: str, source: Source,
                             pending: dict[int, list[dict[str, object]]], acked: set[str]) -> bool:
    """Send pending batches, 16 at a time, until none is left (False) or the server died
    under the client (True)."""
    died = False
    async with httpx.AsyncClient(base_url=base, headers=source.basic, timeout=10) as client:
        async def one(number: int) -> None:
            nonlocal died
            batch = pending[number]
            try:
                response = await client.post("/v1/batch", json={"batch": batch})
            except httpx.TransportError:
                died = True  # killed before answering: unknown, so resend later
                return
            if response.status_code == 200:
                acked.update(str(m["messageId"]) for m in batch)
                pending.pop(number, None)

        while pending and not died:
            await asyncio.gather(*(one(n) for n in list(pending)[:16]))
    return died


@pytest.mark.slow
async def test_sigkill_loses_no_acknowledged_event_and_stores_none_twice(
        db: Database, tenant: Tenant, database_url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("CXPRISM_TEST_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    print(f"CXPRISM_TEST_SEED={seed}")  # rerun a failure with the same kills
    source = await make_source(db, tenant)
    pending = {n: [track(n * PER_BATCH + k) for k in range(PER_BATCH)] for n in range(BATCHES)}
    acked: set[str] = set()
    port, log = free_port(), tmp_path / "server.log"
    interrupted = 0
    base = f"http://127.0.0.1:{port}"
    for _kill in range(KILLS):
        server = start_serve(database_url, port, log)
        try:
            await wait_ready(base)
            sender = asyncio.create_task(_send_until_killed(base, source, pending, acked))
            await asyncio.sleep(rng.uniform(0.05, 0.6))
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            interrupted += await sender
        finally:
            if server.poll() is None:
                server.kill()
        assert await stored_count(db) >= len(acked)  # every 200 survived the kill
    server = start_serve(database_url, port, log)
    try:
        await wait_ready(base)
        while pending:
            await _send_until_killed(base, source, pending, acked)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert interrupted >= KILLS // 2, "the kills must land while requests are in flight"
    assert len(acked) == BATCHES * PER_BATCH
    assert await stored_count(db) == BATCHES * PER_BATCH
