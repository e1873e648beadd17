"""The outbound pipeline's tables: sends, templates, the workspace's policy and budgets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.clock import utcnow
from cxprism.kit.models import Base, IdMixin, TimestampMixin, WorkspaceScopedMixin


class Send(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    """One message through the pipeline, from request to final outcome.

    ``idempotency_key`` comes from the send's cause (a journey step for a customer, a
    survey invitation): asking twice for the same cause returns the first send. The
    provider gets the send id as its idempotency key. ``history`` keeps every state with
    its time and reason: the audit trail.
    """

    __tablename__ = "outbound_sends"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        # Frequency caps and engagement: a customer's recent sends on a medium.
        Index("ix_outbound_sends_customer_recent", "workspace_id", "customer_id", "medium",
              "created_at"),
        # Status callbacks find the send by the provider's id.
        Index("ix_outbound_sends_external", "channel_id", "external_id"),
        Index("ix_outbound_sends_status", "workspace_id", "status", "created_at"),
    )

    customer_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    idempotency_key: Mapped[str] = mapped_column(String(255))
    cause: Mapped[str] = mapped_column(String(255))
    purpose: Mapped[str] = mapped_column(String(20))
    medium: Mapped[str | None] = mapped_column(String(20))  # email, sms, whatsapp, ...
    channel_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    choice_reason: Mapped[str | None] = mapped_column(Text)
    recipient: Mapped[str | None] = mapped_column(String(320))
    # The customer's timezone when the send was asked for: quiet hours at delivery time
    # need it without a second lookup per message.
    timezone: Mapped[str | None] = mapped_column(String(64))
    template_id: Mapped[uuid.UUID | None] = mapped_column(Uuid())
    template_version: Mapped[int | None]
    locale: Mapped[str | None] = mapped_column(String(35))
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    provider_template: Mapped[dict[str, Any] | None]  # WhatsApp: name, language, parameters
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    history: Mapped[list[Any]] = mapped_column(default=list)
    attempts: Mapped[int] = mapped_column(default=0)
    not_before: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    external_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None]
    replied_at: Mapped[datetime | None]
    requested_by: Mapped[str | None] = mapped_column(String(100))


class Template(IdMixin, WorkspaceScopedMixin, Base):
    """One version of a message template; a new version is a new row, never an edit, so
    a send always names exactly what it rendered."""

    __tablename__ = "outbound_templates"
    __table_args__ = (UniqueConstraint("workspace_id", "name", "medium", "locale", "version"),)

    name: Mapped[str] = mapped_column(String(100))
    medium: Mapped[str] = mapped_column(String(20))
    locale: Mapped[str] = mapped_column(String(35))
    version: Mapped[int]
    subject: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str] = mapped_column(Text, default="")
    html: Mapped[str | None] = mapped_column(Text)
    provider_template: Mapped[dict[str, Any] | None]
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(100))


class Policy(TimestampMixin, Base):
    """A workspace's sending rules. No row means the defaults (see ``policies.py``)."""

    __tablename__ = "outbound_policies"

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    default_locale: Mapped[str] = mapped_column(String(35), default="en")
    quiet_hours: Mapped[dict[str, Any] | None]  # {"start": "21:00", "end": "08:00", ...}
    caps: Mapped[list[Any]] = mapped_column(default=list)
    channel_order: Mapped[list[Any]] = mapped_column(default=list)
    rate_limits: Mapped[dict[str, Any]] = mapped_column(default=dict)  # kind -> per second
    marketing_paused: Mapped[bool] = mapped_column(default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)


class Budget(TimestampMixin, Base):
    """A daily cap on sends per medium (paid SMS and WhatsApp are money)."""

    __tablename__ = "outbound_budgets"

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    medium: Mapped[str] = mapped_column(String(20), primary_key=True)
    daily_limit: Mapped[int]


class BudgetUsage(Base):
    """Sends counted against a budget, per workspace-local day."""

    __tablename__ = "outbound_budget_usage"

    workspace_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    medium: Mapped[str] = mapped_column(String(20), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD
    used: Mapped[int] = mapped_column(default=0)
