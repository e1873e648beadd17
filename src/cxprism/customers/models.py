"""Customer profiles, their identities, consent, data keys, suppressions and DSR records."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.clock import utcnow
from cxprism.kit.models import Base, IdMixin, TimestampMixin, WorkspaceScopedMixin


class Customer(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    """One person. A merged-away profile keeps its row (``merged_into_id`` -> the live
    winner, always one hop) so its old id still resolves; an erased one keeps a tombstone."""

    __tablename__ = "customers"

    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # trait name -> ISO-8601 time it was last set OR deleted (a key in this map but not in
    # ``traits`` is a deletion), so merges can take the most recent decision per trait.
    trait_updated_at: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(35))
    merged_into_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("customers.id"), index=True)
    merged_at: Mapped[datetime | None]
    erased_at: Mapped[datetime | None]

    @property
    def is_live(self) -> bool:
        return self.merged_into_id is None and self.erased_at is None


class CustomerIdentity(IdMixin, WorkspaceScopedMixin, Base):
    """An identifier of one person. The unique constraint is the one-owner guarantee."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("workspace_id", "kind", "namespace", "value"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    namespace: Mapped[str] = mapped_column(String(40), default="")
    value: Mapped[str] = mapped_column(String(320))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class Consent(IdMixin, WorkspaceScopedMixin, Base):
    """The current decision per customer, channel and purpose (the latest ``occurred_at``)."""

    __tablename__ = "consents"
    __table_args__ = (UniqueConstraint("workspace_id", "customer_id", "channel", "purpose"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ConsentEvent(IdMixin, WorkspaceScopedMixin, Base):
    """Append-only history of consent decisions, the evidence behind :class:`Consent`."""

    __tablename__ = "consent_events"
    __table_args__ = (Index("ix_consent_events_customer", "workspace_id", "customer_id"),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))
    purpose: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerDataKey(WorkspaceScopedMixin, Base):
    """A customer's AES key, wrapped by the master key. Erasure nulls it: crypto-shredding."""

    __tablename__ = "customer_data_keys"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    destroyed_at: Mapped[datetime | None]


class Suppression(IdMixin, WorkspaceScopedMixin, Base):
    """An erased customer's identity, kept only as a keyed hash, so it is never re-profiled."""

    __tablename__ = "customer_suppressions"
    __table_args__ = (UniqueConstraint("workspace_id", "digest"),)

    digest: Mapped[str] = mapped_column(String(64))
    request_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("data_subject_requests.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DataSubjectRequest(IdMixin, WorkspaceScopedMixin, Base):
    """The audit record of an export or erasure (kept after the erasure itself)."""

    __tablename__ = "data_subject_requests"

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[uuid.UUID | None]
    suppress: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[datetime | None]
