"""The delivery job (a batch handler) and the consumers the pipeline keeps up to date with."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import registry as consumers
from cxprism.bus.events import DomainEvent
from cxprism.kit.clock import utcnow
from cxprism.kit.safe_http import safe_client_pool
from cxprism.outbound import privacy  # noqa: F401 - registers the sends as personal data
from cxprism.outbound.dispatch import deliver_batch
from cxprism.outbound.mediums import medium_of
from cxprism.outbound.repository import SendRepository
from cxprism.outbound.service import DELIVER_JOB
from cxprism.outbound.statuses import give_up_stale, note_reply
from cxprism.outbound.throttle import Throttle
from cxprism.scheduler.batches import JobBatch
from cxprism.scheduler.registry import registry as jobs

SEND_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_clients: dict[int, list[httpx.AsyncClient]] = {}
_throttle = Throttle()
SWEEP_EVERY = timedelta(minutes=1)
_last_sweep: list[datetime] = []


def http_clients() -> list[httpx.AsyncClient]:
    """SSRF-guarded clients for this event loop (providers' URLs are a workspace admin's
    to set, so every call goes through the guard)."""
    loop_id = id(asyncio.get_running_loop())
    clients = _clients.get(loop_id)
    if clients is None or any(c.is_closed for c in clients):
        clients = _clients[loop_id] = safe_client_pool(timeout=SEND_TIMEOUT)
    return clients


@jobs.register_batch(DELIVER_JOB)
async def deliver(batch: JobBatch) -> None:
    await deliver_batch(batch, http_clients(), _throttle)
    await _sweep_now_and_then(batch)


async def _sweep_now_and_then(batch: JobBatch) -> None:
    """At most once a minute per process: sends stuck ``sending`` become ``unknown``."""
    now = utcnow()
    if _last_sweep and now - _last_sweep[0] < SWEEP_EVERY:
        return
    _last_sweep[:] = [now]
    async with batch.db.session() as session:
        if await give_up_stale(session, now):
            await session.commit()


@consumers.register("outbound.note_replies", "message.received")
async def count_replies(session: AsyncSession, event: DomainEvent) -> None:
    """A customer's message answers the send they last got on that medium (engagement
    for choosing their best channel)."""
    kind = event.payload.get("channel_kind")
    if kind is None or event.payload.get("direction") != "inbound":
        return
    await note_reply(session, event.workspace_id, uuid.UUID(event.payload["customer_id"]),
                     medium_of(str(kind)), event.occurred_at)


@consumers.register("outbound.follow_merges", "customer.merged")
async def follow_customer_merge(session: AsyncSession, event: DomainEvent) -> None:
    await SendRepository(session, event.workspace_id).reassign(
        uuid.UUID(event.payload["loser_id"]), uuid.UUID(event.payload["winner_id"]))
