"""Channel requests and responses. Secrets go in, and never come back out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ChannelCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: str = Field(min_length=1, max_length=40)
    name: str = Field(min_length=1, max_length=200)
    config: dict[str, Any]


class ChannelUpdate(BaseModel):
    """``config`` fields replace the stored ones; secret fields left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    config: dict[str, Any] | None = None
    is_active: bool | None = None


class ChannelOut(BaseModel):
    id: uuid.UUID
    kind: str
    name: str
    address: str
    config: dict[str, Any]
    secrets_set: list[str] = Field(description="secret fields that hold a value (never shown)")
    is_active: bool
    inbound_url: str | None = Field(description="where the provider sends webhooks, if any")
    created_at: datetime
    updated_at: datetime


class ChannelList(BaseModel):
    data: list[ChannelOut]


class ConnectorOut(BaseModel):
    kind: str
    webhook: bool
    config_schema: dict[str, Any]
    secret_fields: list[str]


class ConnectorList(BaseModel):
    data: list[ConnectorOut]
