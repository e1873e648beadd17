"""Outbox tables: events, per-workspace sequence counters, relay cursors, consumer receipts."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.clock import utcnow
from cxprism.kit.models import Base


class OutboxEvent(Base):
    """A domain event, written in the same transaction as the change it describes."""

    __tablename__ = "outbox_events"
    __table_args__ = (UniqueConstraint("workspace_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID]
    # Gap-free and in commit order per workspace (see bus.events).
    seq: Mapped[int] = mapped_column(BigInteger)
    type: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime]


class OutboxSequence(Base):
    __tablename__ = "outbox_sequences"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger)


class RelayCursor(Base):
    """How far the relay has delivered a workspace's events, and which relay holds it now."""

    __tablename__ = "relay_cursors"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    relayed_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    owner: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]


class ProcessedEvent(Base):
    """A consumer's receipt: written in the consumer's own transaction, so redelivery is a no-op."""

    __tablename__ = "processed_events"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConsumerFailure(Base):
    """Failed deliveries; after the last attempt the event is dead-lettered for that consumer."""

    __tablename__ = "consumer_failures"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID]
    attempts: Mapped[int] = mapped_column(default=0)
    dead: Mapped[bool] = mapped_column(default=False)
    last_error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
