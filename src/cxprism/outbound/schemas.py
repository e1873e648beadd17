"""Requests and responses of the outbound API: sends, templates, policy and budgets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from cxprism.customers.schemas import Channel, Purpose, check_locale
from cxprism.outbound.policies import parse_clock

Name = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
Cause = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True,
                                         pattern=r"^[^\x00-\x1f\x7f]+$")]
SendStatus = Literal["queued", "deferred", "suppressed", "sending", "sent", "delivered",
                     "read", "failed", "bounced", "unknown", "cancelled"]


class Content(BaseModel):
    """Ad-hoc content, rendered like a template (for one-off transactional messages)."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(default=None, max_length=2_000)
    text: str = Field(default="", max_length=65_536)
    html: str | None = Field(default=None, max_length=65_536)


class SendCreate(BaseModel):
    """One message to one customer. ``cause`` says why it is sent (``order:1234:shipped``,
    ``journey:welcome:step-2``); the same cause never sends twice."""

    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID
    cause: Cause
    purpose: Purpose
    channel: Channel | Literal["best"] = "best"
    channel_id: uuid.UUID | None = Field(default=None, description="a specific channel")
    template: Name | None = None
    template_version: int | None = Field(default=None, ge=1)
    content: Content | None = None
    locale: str | None = None
    event: dict[str, Any] = Field(default_factory=dict, description="the triggering event's "
                                  "properties, as `event` in templates")
    conversation: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)
    not_before: datetime | None = None
    expires_at: datetime | None = None

    _locale = field_validator("locale")(lambda v: None if v is None else check_locale(v))


class SendBatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sends: list[SendCreate] = Field(min_length=1, max_length=500)


class HistoryEntry(BaseModel):
    status: str
    at: datetime
    reason: str | None = None
    detail: str | None = None


class SendOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    customer_id: uuid.UUID
    cause: str
    purpose: str
    medium: str | None
    channel_id: uuid.UUID | None
    choice_reason: str | None
    recipient: str | None
    template_id: uuid.UUID | None
    template_version: int | None
    locale: str | None
    subject: str | None
    text: str
    html: str | None
    provider_template: dict[str, Any] | None
    status: str
    reason: str | None
    detail: str | None
    history: list[HistoryEntry]
    attempts: int
    not_before: datetime | None
    expires_at: datetime | None
    external_id: str | None
    sent_at: datetime | None
    replied_at: datetime | None
    created_at: datetime
    updated_at: datetime


class BatchItem(BaseModel):
    index: int
    created: bool
    send: SendOut | None
    error: dict[str, Any] | None


class BatchResult(BaseModel):
    data: list[BatchItem]


class SendPage(BaseModel):
    data: list[SendOut]
    next_cursor: str | None


class ProviderTemplate(BaseModel):
    """A provider-approved template (WhatsApp): its approved name and language, and one
    Jinja expression per parameter."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512)
    language: str = Field(min_length=2, max_length=16)
    parameters: list[str] = Field(default_factory=list, max_length=20)


class TemplateCreate(BaseModel):
    """A new version of template ``name`` for a medium and locale."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    medium: Channel
    locale: str = "en"
    subject: str | None = Field(default=None, max_length=2_000)
    text: str = Field(default="", max_length=65_536)
    html: str | None = Field(default=None, max_length=65_536)
    provider_template: ProviderTemplate | None = None
    description: str | None = Field(default=None, max_length=2_000)

    _locale = field_validator("locale")(check_locale)


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    medium: str
    locale: str
    version: int
    subject: str | None
    text: str
    html: str | None
    provider_template: dict[str, Any] | None
    description: str | None
    variables: list[str] = Field(default_factory=list)
    created_at: datetime
    created_by: str | None


class PreviewRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    customer_id: uuid.UUID | None = Field(default=None, description="a sample customer; "
                                          "without one, only `event`/`data` are available")
    event: dict[str, Any] = Field(default_factory=dict)
    conversation: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)


class PreviewOut(BaseModel):
    subject: str | None
    text: str
    html: str | None
    provider_parameters: list[str]


class QuietHoursIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str
    end: str
    purposes: list[Purpose] = Field(default_factory=lambda: [
        Purpose.MARKETING, Purpose.RESEARCH, Purpose.SERVICE])

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        parse_clock(value)
        return value


class CapIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(ge=0, le=100_000)
    hours: float = Field(gt=0, le=24 * 366)
    purpose: Purpose | None = None
    medium: Channel | None = None


class PolicyUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    timezone: str | None = Field(default=None, max_length=64)
    default_locale: str | None = None
    quiet_hours: QuietHoursIn | None = None
    clear_quiet_hours: bool = False
    caps: list[CapIn] | None = Field(default=None, max_length=50)
    channel_order: list[Channel] | None = None
    rate_limits: dict[str, float] | None = Field(default=None, description="connector kind "
                                                 "-> sends per second, per worker process")


class PolicyOut(BaseModel):
    timezone: str
    default_locale: str
    quiet_hours: dict[str, Any] | None
    caps: list[dict[str, Any]]
    channel_order: list[str]
    rate_limits: dict[str, float]
    marketing_paused: bool
    paused_reason: str | None


class PauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500)


class BudgetSet(BaseModel):
    """A daily limit for a medium; ``daily_limit`` null removes the budget."""

    model_config = ConfigDict(extra="forbid")

    medium: Channel
    daily_limit: int | None = Field(ge=0, le=100_000_000)


class TemplateList(BaseModel):
    data: list[TemplateOut]


class BudgetOut(BaseModel):
    medium: str
    daily_limit: int
    used_today: int
    day: str


class BudgetList(BaseModel):
    data: list[BudgetOut]


class ResumeOut(BaseModel):
    policy: PolicyOut
    released: int
