"""Webhook endpoints (subscriptions), their deliveries and each delivery's attempts."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.clock import utcnow
from cxprism.kit.models import Base, IdMixin, TimestampMixin, WorkspaceScopedMixin


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # waiting for its next attempt
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # given up: the schedule ran out, or the endpoint answered 410
    CANCELLED = "cancelled"  # the endpoint was disabled or deleted before it went out


class WebhookEndpoint(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    """A URL subscribed to event-type patterns (``*``, ``message.*``, exact names).

    ``secret`` is the signing secret (``whsec_...``) encrypted with AES-GCM, the row id as
    associated data, so a ciphertext copied onto another row does not decrypt.
    """

    __tablename__ = "webhook_endpoints"

    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(500), default="")
    event_types: Mapped[list[Any]] = mapped_column(default=list)
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    disabled_at: Mapped[datetime | None]


class WebhookDelivery(TimestampMixin, WorkspaceScopedMixin, Base):
    """One event for one endpoint. ``id`` is the ``webhook-id`` header: the same on every
    attempt and every manual redelivery, so receivers can deduplicate on it.

    ``body`` is the exact JSON sent, kept as text so every attempt sends the same bytes.
    ``round`` counts manual redeliveries; a job of an older round does nothing.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "event_id"),
        Index("ix_webhook_deliveries_endpoint_page", "endpoint_id", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_endpoints.id", ondelete="CASCADE"))
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING.value)
    round: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(Text)


class WebhookAttempt(IdMixin, WorkspaceScopedMixin, Base):
    """One HTTP call of a delivery: what came back (or why nothing did)."""

    __tablename__ = "webhook_attempts"

    delivery_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    number: Mapped[int]
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    duration_ms: Mapped[int]
    error: Mapped[str | None] = mapped_column(Text)
    response_excerpt: Mapped[str | None] = mapped_column(Text)
