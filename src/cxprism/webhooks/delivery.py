"""The delivery job: a batch handler that POSTs every claimed delivery concurrently.

Three steps (see :mod:`cxprism.scheduler.batches`):

1. one transaction holds the jobs, loads their deliveries and endpoints, settles the jobs
   that need no call (delivery gone, superseded by a redelivery, endpoint disabled) and
   signs the rest; it commits before any call, so no lock is held over the network;
2. every POST runs concurrently, at most ``MAX_IN_FLIGHT`` at once and ``PER_ENDPOINT``
   per endpoint, started round-robin across endpoints so one busy endpoint cannot starve
   the others of slots;
3. one transaction records each attempt, moves the deliveries on (succeeded, pending with
   the next attempt's time, failed), disables endpoints that answered 410, and settles
   the jobs: ``Done``, ``Retry(at=next attempt)`` or ``Bury`` (given up).

Delivery is at least once: a worker that dies between 2 and 3 leaves its jobs to be
rescued and sent again, with the same ``webhook-id`` for the receiver to deduplicate on.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import httpx
from cryptography.exceptions import InvalidTag
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook

from cxprism.bus import events
from cxprism.kit.clock import utcnow
from cxprism.scheduler.batches import DONE, BatchJob, Bury, JobBatch, Outcome, Retry
from cxprism.webhooks import repository as repo
from cxprism.webhooks import sender, signing
from cxprism.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from cxprism.webhooks.schedule import AttemptResult, Verdict, next_attempt_at, parse_retry_after

DELIVER_JOB = "webhooks.deliver"
MAX_IN_FLIGHT = 100
PER_ENDPOINT = 20
_SENDABLE = (DeliveryStatus.PENDING.value, DeliveryStatus.FAILED.value)
CANNOT_SIGN = ("the endpoint's signing secret cannot be decrypted (was "
                     "CXPRISM_SECRET_KEY changed?); rotate the secret to send again")
log = logging.getLogger("cxprism.webhooks")


@dataclass(frozen=True)
class Send:
    job: BatchJob
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    url: str
    body: bytes
    headers: dict[str, str]
    failed: AttemptResult | None = None  # failed before any call: nothing to send


def _wanted(jobs: list[BatchJob]) -> dict[uuid.UUID, uuid.UUID]:
    return {uuid.UUID(job.payload["delivery_id"]): job.workspace_id for job in jobs
            if job.workspace_id is not None}


async def deliver_batch(batch: JobBatch) -> None:
    async with batch.db.session() as session:
        held = await batch.hold(session)
        sends, settled = await _prepare(session, held, utcnow())
        if settled:
            await batch.settle(session, settled)
        await session.commit()
    if not sends:
        return
    results = await send_all(sends)
    async with batch.db.session() as session:
        still_ours = {job.id for job in await batch.hold(session)}
        mine = [(send, result) for send, result in zip(sends, results, strict=True)
                if send.job.id in still_ours]
        await batch.settle(session, await _record(session, mine, utcnow()))
        await session.commit()


async def _prepare(session: AsyncSession, jobs: list[BatchJob],
                   now: datetime) -> tuple[list[Send], dict[int, Outcome]]:
    """The calls to make, signed; and the outcomes of the jobs that need none."""
    deliveries = await repo.deliveries_of(session, _wanted(jobs), lock=False)
    endpoints = await repo.endpoints_of(session, {d.endpoint_id for d in deliveries.values()})
    signers: dict[uuid.UUID, Webhook | None] = {}
    sends: list[Send] = []
    settled: dict[int, Outcome] = {}
    for job in jobs:
        delivery = deliveries.get(uuid.UUID(job.payload["delivery_id"]))
        endpoint = endpoints.get(delivery.endpoint_id) if delivery is not None else None
        if (delivery is None or endpoint is None or job.payload.get("round") != delivery.round
                or delivery.status not in _SENDABLE):
            settled[job.id] = DONE  # deleted, superseded by a redelivery, or settled
            continue
        if not endpoint.is_active:
            delivery.status = DeliveryStatus.CANCELLED.value
            delivery.next_attempt_at = None
            delivery.last_error = f"endpoint disabled: {endpoint.disabled_reason or 'by a user'}"
            settled[job.id] = DONE
            continue
        delivery.status = DeliveryStatus.PENDING.value  # a failed one retried by hand
        signer = _signer(endpoint, signers)
        if signer is None:  # recorded as a failed attempt, on the usual schedule
            sends.append(Send(job, delivery.id, endpoint.id, endpoint.url, b"", {},
                              AttemptResult(None, 0, CANNOT_SIGN)))
            continue
        headers = signing.headers(signer, str(delivery.id), now, delivery.body)
        sends.append(Send(job, delivery.id, endpoint.id, endpoint.url, delivery.body.encode(),
                          headers))
    return sends, settled


def _signer(endpoint: WebhookEndpoint, signers: dict[uuid.UUID, Webhook | None]
            ) -> Webhook | None:
    """The endpoint's signer (one per batch); None if its secret cannot be decrypted."""
    if endpoint.id not in signers:
        try:
            signers[endpoint.id] = Webhook(signing.unseal(endpoint.id, endpoint.secret))
        except InvalidTag:
            log.error("webhook endpoint %s: its secret cannot be decrypted", endpoint.id)
            signers[endpoint.id] = None
    return signers[endpoint.id]


async def send_all(sends: list[Send]) -> list[AttemptResult]:
    """POST every send concurrently; results in the order of ``sends``."""
    clients = sender.http_clients()
    overall = asyncio.Semaphore(MAX_IN_FLIGHT)
    per_endpoint: dict[uuid.UUID, asyncio.Semaphore] = defaultdict(
        lambda: asyncio.Semaphore(PER_ENDPOINT))

    async def one(send: Send, client: httpx.AsyncClient) -> AttemptResult:
        if send.failed is not None:
            return send.failed
        async with per_endpoint[send.endpoint_id], overall:
            return await sender.post(client, send.url, send.body, send.headers)

    tasks = {index: asyncio.ensure_future(one(sends[index], clients[index % len(clients)]))
             for index in _round_robin(sends)}
    await asyncio.gather(*tasks.values())
    return [tasks[index].result() for index in range(len(sends))]


def _round_robin(sends: list[Send]) -> list[int]:
    """Indexes of ``sends`` taking one per endpoint in turn, so slots are shared fairly."""
    queues: dict[uuid.UUID, list[int]] = defaultdict(list)
    for index, send in enumerate(sends):
        queues[send.endpoint_id].append(index)
    order: list[int] = []
    for depth in range(max((len(q) for q in queues.values()), default=0)):
        order += [queue[depth] for queue in queues.values() if depth < len(queue)]
    return order


async def _record(session: AsyncSession, done: list[tuple[Send, AttemptResult]],
                  now: datetime) -> dict[int, Outcome]:
    wanted = {send.delivery_id: send.job.workspace_id for send, _ in done
              if send.job.workspace_id is not None}
    deliveries = await repo.deliveries_of(session, wanted, lock=True)
    endpoints = await repo.endpoints_of(session, {d.endpoint_id for d in deliveries.values()})
    gone = {send.endpoint_id for send, result in done if result.verdict is Verdict.GONE}
    outcomes: dict[int, Outcome] = {}
    attempts: list[WebhookAttempt] = []
    for send, result in done:
        delivery = deliveries.get(send.delivery_id)
        if delivery is None:
            outcomes[send.job.id] = DONE  # its endpoint was deleted meanwhile
            continue
        delivery.attempts += 1
        attempts.append(WebhookAttempt(
            workspace_id=delivery.workspace_id, delivery_id=delivery.id,
            number=delivery.attempts, attempted_at=now, status_code=result.status_code,
            duration_ms=result.duration_ms, error=result.error,
            response_excerpt=result.excerpt))
        delivery.last_attempt_at = now
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        if delivery.round != send.job.payload.get("round"):
            outcomes[send.job.id] = DONE  # redelivered meanwhile: the new round decides
            continue
        outcomes[send.job.id] = _settle_delivery(delivery, send, result, send.endpoint_id in gone,
                                                 now)
    repo.add_attempts(session, attempts)
    for endpoint_id in sorted(gone):
        endpoint = endpoints.get(endpoint_id)
        if endpoint is not None:
            await _disable(session, endpoint, now)
    return outcomes


def _settle_delivery(delivery: WebhookDelivery, send: Send, result: AttemptResult,
                     endpoint_gone: bool, now: datetime) -> Outcome:
    verdict = result.verdict
    if verdict is Verdict.SUCCEEDED:
        delivery.status = DeliveryStatus.SUCCEEDED.value
        delivery.next_attempt_at = None
        return DONE
    error = result.error or f"HTTP {result.status_code}"
    if verdict is Verdict.GONE:
        delivery.status = DeliveryStatus.FAILED.value
        delivery.next_attempt_at = None
        return Bury(error)
    if endpoint_gone:  # a neighbour in this batch got 410 from the same endpoint
        delivery.status = DeliveryStatus.CANCELLED.value
        delivery.next_attempt_at = None
        return DONE
    wait = parse_retry_after(result.retry_after, now)
    at = next_attempt_at(send.job.attempt, now, retry_after=wait)
    delivery.next_attempt_at = at
    if at is None:
        delivery.status = DeliveryStatus.FAILED.value
        return Bury(f"gave up after {send.job.attempt} attempts: {error}")
    return Retry(error, at=at)


async def _disable(session: AsyncSession, endpoint: WebhookEndpoint, now: datetime) -> None:
    reason = f"answered 410 Gone at {now.isoformat(timespec='seconds')}"
    if await repo.disable_endpoint(session, endpoint, reason, now):
        await repo.DeliveryRepository(session, endpoint.workspace_id).cancel_pending(
            endpoint.id, f"endpoint disabled: {reason}", now)
        events.record(session, endpoint.workspace_id, "webhook_endpoint.disabled",
                      {"endpoint_id": str(endpoint.id), "reason": reason})
