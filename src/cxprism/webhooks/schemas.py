"""Webhook requests and responses. A signing secret is in a response only when it is made
(creation, rotation); it is never returned again."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cxprism.webhooks.models import DeliveryStatus

Pattern = Annotated[str, Field(min_length=1, max_length=200)]
PATTERNS_DOC = ("event types to receive: `*` (all), `prefix.*` (e.g. `message.*`) or exact "
                "names from GET /api/v1/event-types")


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(min_length=1, max_length=2000,
                     description="http(s) URL on a public host; redirects are not followed")
    description: str = Field(default="", max_length=500)
    event_types: list[Pattern] = Field(min_length=1, max_length=100, description=PATTERNS_DOC)


class EndpointUpdate(BaseModel):
    """``is_active: true`` re-enables an endpoint that was disabled (by a 410, or a user)."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2000)
    description: str | None = Field(default=None, max_length=500)
    event_types: list[Pattern] | None = Field(default=None, min_length=1, max_length=100,
                                              description=PATTERNS_DOC)
    is_active: bool | None = None


class EndpointOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    url: str
    description: str
    event_types: list[str]
    is_active: bool
    disabled_reason: str | None = Field(description="why it was disabled, while it is")
    disabled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EndpointWithSecret(EndpointOut):
    secret: str = Field(description="the signing secret (`whsec_...`): store it now, it is "
                                    "never shown again")


class EndpointList(BaseModel):
    data: list[EndpointOut]


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID = Field(description="the `webhook-id` header, the same on every attempt")
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class AttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    number: int
    attempted_at: datetime
    status_code: int | None = Field(description="null when no HTTP answer came")
    duration_ms: int
    error: str | None
    response_excerpt: str | None = Field(description="the first 1 KiB of the answer's body")


class DeliveryDetail(DeliveryOut):
    body: dict[str, Any] = Field(description="the JSON body sent")
    attempt_history: list[AttemptOut]


class DeliveryPage(BaseModel):
    data: list[DeliveryOut]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page.")


class EventTypeOut(BaseModel):
    type: str
    description: str
    payload_schema: dict[str, Any] = Field(description="JSON schema of the body's `data`")


class EventTypeList(BaseModel):
    data: list[EventTypeOut]
