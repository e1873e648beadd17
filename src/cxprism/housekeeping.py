"""Periodic clean-up of expired rows that nobody else deletes."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from cxprism.kit import idempotency
from cxprism.kit.db import Database
from cxprism.workspaces.service import purge_expired_web_sessions

log = logging.getLogger("cxprism.housekeeping")
INTERVAL_SECONDS = 600.0


async def sweep(db: Database) -> dict[str, int]:
    async with db.session() as session:
        removed = {
            "idempotency_keys": await idempotency.purge_expired(session),
            "web_sessions": await purge_expired_web_sessions(session),
        }
        await session.commit()
    return removed


async def run(db: Database, stop: asyncio.Event, interval: float = INTERVAL_SECONDS) -> None:
    while not stop.is_set():
        try:
            removed = await sweep(db)
            if any(removed.values()):
                log.info("housekeeping removed %s", removed)
        except Exception:
            log.exception("housekeeping failed; trying again next round")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
