"""Webhook consumers and job handlers: fan-out of every domain event to the subscribed
endpoints, and the batched delivery job."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import registry as consumers
from cxprism.bus.events import DomainEvent
from cxprism.scheduler.batches import JobBatch
from cxprism.scheduler.registry import registry as jobs
from cxprism.webhooks.delivery import DELIVER_JOB, deliver_batch
from cxprism.webhooks.service import fan_out


@consumers.register("webhooks.fan_out", "*")
async def fan_out_event(session: AsyncSession, event: DomainEvent) -> None:
    """Runs in the consumer's transaction with its receipt: each event fans out once."""
    await fan_out(session, event)


@jobs.register_batch(DELIVER_JOB)
async def deliver(batch: JobBatch) -> None:
    await deliver_batch(batch)
