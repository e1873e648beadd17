"""The ledger's consumer, its periodic signer and its job: appending committed events,
signing a checkpoint for every log that grew, exporting each checkpoint to the witness."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import registry as consumers
from cxprism.bus.events import DomainEvent
from cxprism.kit.db import Database
from cxprism.kit.errors import Conflict
from cxprism.ledger.entries import LEDGERED_TYPES
from cxprism.ledger.service import CHECKPOINT_EVERY, LedgerService, logs_to_sign
from cxprism.ledger.witness import EXPORT_JOB, export_checkpoint
from cxprism.scheduler.registry import JobContext
from cxprism.scheduler.registry import registry as jobs
from cxprism.scheduler.service import enqueue

log = logging.getLogger("cxprism.ledger")


@consumers.register_batch("ledger.append", *sorted(LEDGERED_TYPES))
async def append(session: AsyncSession, events: Sequence[DomainEvent]) -> None:
    """One batch of one workspace's committed events: one append, in the consumer's
    transaction with its receipts, so each event becomes exactly one leaf."""
    await LedgerService(session, events[0].workspace_id).append(events)


async def sign_grown_logs(db: Database) -> list[uuid.UUID]:
    """Sign a checkpoint for every log with entries newer than its last checkpoint, each
    in its own transaction (with its witness export); the workspaces signed for."""
    async with db.session() as session:
        due = await logs_to_sign(session)
    signed = []
    for workspace_id in due:
        async with db.session() as session:
            ledger = LedgerService(session, workspace_id)
            try:
                checkpoint = await ledger.sign_checkpoint()
            except Conflict as refused:  # a rewritten log: never signed, said loudly
                log.error("ledger of workspace %s: %s", workspace_id, refused.message)
                continue
            if (await ledger.head()).witness_url:
                await enqueue(session, EXPORT_JOB, {"size": checkpoint.size},
                              workspace_id=workspace_id,
                              unique_key=f"{EXPORT_JOB}:{checkpoint.size}")
            await session.commit()
            signed.append(workspace_id)
    return signed


async def run(db: Database, stop: asyncio.Event,
              interval: float = CHECKPOINT_EVERY.total_seconds()) -> None:
    """Every ``interval``: checkpoints for the logs that grew. Any number of processes may
    run this: signing takes the log's lock, and a log already signed at its size is left."""
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval)
        try:
            await sign_grown_logs(db)
        except Exception:
            log.exception("signing ledger checkpoints failed; trying again next round")


@jobs.register(EXPORT_JOB, external=True)
async def export(context: JobContext) -> None:
    assert context.workspace_id is not None
    await export_checkpoint(context.session, context.workspace_id, int(context.payload["size"]))
