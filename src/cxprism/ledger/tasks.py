"""The ledger's consumer and jobs: appending committed events, signing checkpoints
periodically, and exporting each checkpoint to the workspace's witness."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import registry as consumers
from cxprism.bus.events import DomainEvent
from cxprism.kit.clock import utcnow
from cxprism.ledger.entries import LEDGERED_TYPES
from cxprism.ledger.service import CHECKPOINT_EVERY, LedgerService
from cxprism.ledger.witness import EXPORT_JOB, export_checkpoint
from cxprism.scheduler.registry import JobContext
from cxprism.scheduler.registry import registry as jobs
from cxprism.scheduler.service import enqueue

log = logging.getLogger("cxprism.ledger")
CHECKPOINT_JOB = "ledger.checkpoint"


@consumers.register_batch("ledger.append", *sorted(LEDGERED_TYPES))
async def append(session: AsyncSession, events: Sequence[DomainEvent]) -> None:
    """One batch of one workspace's committed events: one append, in the consumer's
    transaction with its receipts, so each event becomes exactly one leaf."""
    workspace_id = events[0].workspace_id
    if await LedgerService(session, workspace_id).append(events) is not None:
        await schedule_checkpoint(session, workspace_id, utcnow())


async def schedule_checkpoint(session: AsyncSession, workspace_id: uuid.UUID,
                              now: datetime) -> None:
    """A checkpoint at the end of the current period: one job per period, however many
    appends it saw (the unique key names the period)."""
    period = CHECKPOINT_EVERY.total_seconds()
    bucket = int(now.timestamp() // period)
    run_at = datetime.fromtimestamp((bucket + 1) * period, tz=now.tzinfo)
    await enqueue(session, CHECKPOINT_JOB, {}, run_at=run_at, workspace_id=workspace_id,
                  unique_key=f"{CHECKPOINT_JOB}:{bucket}")


@jobs.register(CHECKPOINT_JOB)
async def sign_checkpoint(context: JobContext) -> None:
    assert context.workspace_id is not None
    ledger = LedgerService(context.session, context.workspace_id)
    checkpoint = await ledger.sign_checkpoint()
    if (await ledger.head()).witness_url:
        await enqueue(context.session, EXPORT_JOB, {"size": checkpoint.size},
                      workspace_id=context.workspace_id,
                      unique_key=f"{EXPORT_JOB}:{checkpoint.size}")


@jobs.register(EXPORT_JOB, external=True)
async def export(context: JobContext) -> None:
    assert context.workspace_id is not None
    await export_checkpoint(context.session, context.workspace_id, int(context.payload["size"]))
