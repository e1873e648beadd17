"""Job handlers and consumers: sending queued messages, following customer merges."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import registry as consumers
from cxprism.bus.events import DomainEvent
from cxprism.config import get_settings
from cxprism.conversations.delivery import deliver
from cxprism.conversations.privacy import FORGET_ATTACHMENTS
from cxprism.conversations.replies import SEND_ATTEMPTS, SEND_JOB
from cxprism.conversations.repository import attachment_in_use, reassign_customer
from cxprism.kit.safe_http import safe_client
from cxprism.kit.storage import LocalStorage
from cxprism.scheduler.registry import JobContext
from cxprism.scheduler.registry import registry as jobs

SEND_TIMEOUT = httpx.Timeout(30.0, connect=10.0)
_clients: dict[int, httpx.AsyncClient] = {}


def http_client() -> httpx.AsyncClient:
    """One pooled client per event loop; providers are called through the SSRF guard and
    without following redirects."""
    import asyncio

    loop_id = id(asyncio.get_running_loop())
    client = _clients.get(loop_id)
    if client is None or client.is_closed:
        client = safe_client(timeout=SEND_TIMEOUT)
        _clients[loop_id] = client
    return client


@jobs.register(SEND_JOB, external=True)
async def send_message(ctx: JobContext) -> None:
    if ctx.workspace_id is None:
        return
    await deliver(ctx.session, ctx.workspace_id, uuid.UUID(ctx.payload["message_id"]),
                  attempt=ctx.attempt, last_attempt=ctx.attempt >= SEND_ATTEMPTS,
                  http=http_client())


@jobs.register(FORGET_ATTACHMENTS, external=True)
async def forget_attachments(ctx: JobContext) -> None:
    """Delete an erased customer's attachment files that no remaining message names (the
    store is content-addressed: the same file may belong to someone else's message too)."""
    if ctx.workspace_id is None:
        return
    storage = LocalStorage(get_settings().storage_dir)
    for key in ctx.payload["keys"]:
        if not await attachment_in_use(ctx.session, ctx.workspace_id, key):
            await storage.delete(ctx.workspace_id, key)


@consumers.register("conversations.follow_merges", "customer.merged")
async def follow_customer_merge(session: AsyncSession, event: DomainEvent) -> None:
    """A merged-away profile's conversations and messages move to the winning profile."""
    await reassign_customer(session, event.workspace_id, uuid.UUID(event.payload["loser_id"]),
                            uuid.UUID(event.payload["winner_id"]))
