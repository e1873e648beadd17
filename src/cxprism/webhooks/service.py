"""Webhook rules: subscriptions, secrets, fan-out of domain events, the delivery log and
redelivery. Flushes, never commits."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.events import DomainEvent
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, NotFound, Unprocessable
from cxprism.kit.ids import uuid7
from cxprism.kit.pagination import decode_cursor, encode_cursor
from cxprism.kit.safe_http import check_url
from cxprism.scheduler.service import enqueue
from cxprism.webhooks import signing
from cxprism.webhooks.catalogue import matches_any, unknown_patterns
from cxprism.webhooks.delivery import DELIVER_JOB
from cxprism.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from cxprism.webhooks.repository import AttemptRepository, DeliveryRepository, EndpointRepository
from cxprism.webhooks.schedule import MAX_ATTEMPTS
from cxprism.webhooks.schemas import EndpointCreate, EndpointUpdate

TEST_EVENT = "webhook.test"


def render_body(event_id: uuid.UUID, event_type: str, at: datetime,
                data: dict[str, Any]) -> str:
    """The Standard Webhooks body shape (``type``, ``timestamp``, ``data``) plus the
    domain event's id, for receivers that track events rather than deliveries."""
    return orjson.dumps({"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"),
                         "event_id": str(event_id), "data": data}).decode()


async def queue_delivery(session: AsyncSession, delivery: WebhookDelivery) -> None:
    """A delivery job for the delivery's current round (one job per delivery and round)."""
    await enqueue(session, DELIVER_JOB, {"delivery_id": str(delivery.id), "round": delivery.round},
                  unique_key=f"webhook:{delivery.id}:{delivery.round}",
                  max_attempts=MAX_ATTEMPTS, workspace_id=delivery.workspace_id,
                  run_at=delivery.next_attempt_at)


async def fan_out(session: AsyncSession, event: DomainEvent) -> int:
    """A delivery (and its job) for each active endpoint of the event's workspace that
    subscribes to its type; how many were made. Safe to run twice for one event."""
    endpoints = [endpoint for endpoint in
                 await EndpointRepository(session, event.workspace_id).active()
                 if matches_any(endpoint.event_types, event.type)]
    if not endpoints:
        return 0
    now = utcnow()
    body = render_body(event.id, event.type, event.occurred_at, event.payload)
    rows = [{"id": uuid7(), "endpoint_id": endpoint.id, "event_id": event.id,
             "event_type": event.type, "body": body, "status": DeliveryStatus.PENDING.value,
             "round": 0, "attempts": 0, "next_attempt_at": now, "created_at": now,
             "updated_at": now} for endpoint in sorted(endpoints, key=lambda e: e.id)]
    inserted = await DeliveryRepository(session, event.workspace_id).insert_new(rows)
    for row in rows:
        if row["id"] in inserted:
            await enqueue(session, DELIVER_JOB, {"delivery_id": str(row["id"]), "round": 0},
                          unique_key=f"webhook:{row['id']}:0", max_attempts=MAX_ATTEMPTS,
                          workspace_id=event.workspace_id, run_at=now)
    return len(inserted)


def _checked_url(url: str) -> str:
    problem = check_url(url)
    if problem is not None:
        raise Unprocessable(f"This URL cannot receive webhooks: {problem}.",
                            details=[{"field": "url", "reason": problem}])
    return url


def _checked_patterns(patterns: list[str]) -> list[str]:
    unique = list(dict.fromkeys(pattern.strip() for pattern in patterns))
    unknown = unknown_patterns(unique)
    if unknown:
        raise Unprocessable(
            "These event types match nothing in the catalogue (GET /api/v1/event-types): "
            + ", ".join(unknown) + ". Use '*', 'prefix.*' or an exact type.",
            details=[{"field": "event_types", "reason": "unknown event type", "value": value}
                     for value in unknown])
    return unique


class WebhookService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.endpoints = EndpointRepository(session, workspace_id)
        self.deliveries = DeliveryRepository(session, workspace_id)
        self.attempts = AttemptRepository(session, workspace_id)

    # Endpoints -------------------------------------------------------------------------

    async def list_endpoints(self) -> Sequence[WebhookEndpoint]:
        return await self.endpoints.all()

    async def get_endpoint(self, endpoint_id: uuid.UUID) -> WebhookEndpoint:
        endpoint = await self.endpoints.get(endpoint_id)
        if endpoint is None:
            raise NotFound("Webhook endpoint not found.",
                           details={"endpoint_id": str(endpoint_id)})
        return endpoint

    async def create_endpoint(self, data: EndpointCreate) -> tuple[WebhookEndpoint, str]:
        """The new endpoint and its signing secret, which is shown this once."""
        endpoint_id, secret = uuid7(), signing.new_secret()
        endpoint = self.endpoints.add(WebhookEndpoint(
            id=endpoint_id, url=_checked_url(data.url), description=data.description,
            event_types=_checked_patterns(data.event_types), is_active=True,
            secret=signing.seal(endpoint_id, secret)))
        await self.endpoints.flush()
        return endpoint, secret

    async def update_endpoint(self, endpoint_id: uuid.UUID,
                              data: EndpointUpdate) -> WebhookEndpoint:
        endpoint = await self.get_endpoint(endpoint_id)
        if data.url is not None:
            endpoint.url = _checked_url(data.url)
        if data.description is not None:
            endpoint.description = data.description
        if data.event_types is not None:
            endpoint.event_types = _checked_patterns(data.event_types)
        if data.is_active is True and not endpoint.is_active:
            endpoint.is_active, endpoint.disabled_reason, endpoint.disabled_at = True, None, None
        elif data.is_active is False and endpoint.is_active:
            now = utcnow()
            endpoint.is_active, endpoint.disabled_at = False, now
            endpoint.disabled_reason = "disabled by a user"
            await self.deliveries.cancel_pending(endpoint.id, "endpoint disabled by a user", now)
        await self.endpoints.flush()
        return endpoint

    async def delete_endpoint(self, endpoint_id: uuid.UUID) -> None:
        """The endpoint and its delivery log go; queued jobs find nothing and end."""
        await self.endpoints.delete(await self.get_endpoint(endpoint_id))
        await self.endpoints.flush()

    async def rotate_secret(self, endpoint_id: uuid.UUID) -> tuple[WebhookEndpoint, str]:
        """A new secret, in effect for every attempt from now on; the old one is gone."""
        endpoint = await self.get_endpoint(endpoint_id)
        secret = signing.new_secret()
        endpoint.secret = signing.seal(endpoint.id, secret)
        endpoint.updated_at = utcnow()
        await self.endpoints.flush()
        return endpoint, secret

    async def send_test(self, endpoint_id: uuid.UUID) -> WebhookDelivery:
        """A ``webhook.test`` event to this endpoint only, whatever it subscribes to."""
        endpoint = self._active(await self.get_endpoint(endpoint_id))
        now, event_id = utcnow(), uuid7()
        delivery = self.deliveries.add(WebhookDelivery(
            id=uuid7(), endpoint_id=endpoint.id, event_id=event_id, event_type=TEST_EVENT,
            body=render_body(event_id, TEST_EVENT, now, {
                "endpoint_id": str(endpoint.id),
                "message": "A test event from cxprism: this endpoint receives webhooks."}),
            status=DeliveryStatus.PENDING.value, round=0, attempts=0, next_attempt_at=now,
            created_at=now, updated_at=now))
        await self.deliveries.flush()
        await queue_delivery(self.session, delivery)
        return delivery

    @staticmethod
    def _active(endpoint: WebhookEndpoint) -> WebhookEndpoint:
        if not endpoint.is_active:
            raise Conflict("This endpoint is disabled; enable it first (PATCH with "
                           "is_active true).", code="endpoint_disabled",
                           details={"disabled_reason": endpoint.disabled_reason})
        return endpoint

    # Deliveries ------------------------------------------------------------------------

    async def list_deliveries(self, endpoint_id: uuid.UUID, status: DeliveryStatus | None,
                              cursor: str | None,
                              limit: int) -> tuple[Sequence[WebhookDelivery], str | None]:
        await self.get_endpoint(endpoint_id)
        rows, last = await self.deliveries.newest_first(
            endpoint_id, status.value if status else None, decode_cursor(cursor), limit)
        return rows, encode_cursor(last) if last is not None else None

    async def get_delivery(self, delivery_id: uuid.UUID, *,
                           lock: bool = False) -> WebhookDelivery:
        delivery = await (self.deliveries.get_locked(delivery_id) if lock
                          else self.deliveries.get(delivery_id))
        if delivery is None:
            raise NotFound("Webhook delivery not found.",
                           details={"delivery_id": str(delivery_id)})
        return delivery

    async def attempts_of(self, delivery: WebhookDelivery) -> Sequence[WebhookAttempt]:
        return await self.attempts.of_delivery(delivery.id)

    async def redeliver(self, delivery_id: uuid.UUID) -> WebhookDelivery:
        """Send a delivery again, whatever its state, with the same ``webhook-id`` and a
        fresh schedule; a job of an earlier round still waiting ends without sending."""
        delivery = await self.get_delivery(delivery_id, lock=True)
        self._active(await self.get_endpoint(delivery.endpoint_id))
        now = utcnow()
        delivery.round += 1
        delivery.status = DeliveryStatus.PENDING.value
        delivery.next_attempt_at = now
        delivery.updated_at = now
        await self.deliveries.flush()
        await queue_delivery(self.session, delivery)
        return delivery
