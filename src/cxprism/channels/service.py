"""Connecting channels: validated by their connector, secrets encrypted at rest."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.channels import repository as repo
from cxprism.channels.destinations import stored_context
from cxprism.channels.models import Channel
from cxprism.channels.protocol import Connector
from cxprism.channels.registry import UnknownChannelKind, registry
from cxprism.channels.schemas import ChannelCreate, ChannelUpdate
from cxprism.config import get_settings
from cxprism.kit import crypto
from cxprism.kit.errors import Conflict, NotFound, Unprocessable
from cxprism.kit.ids import uuid7

# pydantic's prefix for a validator's ValueError; the reason reads better without it.
_VALUE_ERROR = "Value error, "


def _secrets_key() -> bytes:
    return crypto.derive_key(get_settings().secret_key.get_secret_value(), "channel-secrets")


@dataclass(frozen=True)
class OpenChannel:
    """A channel with its connector and its full (decrypted, validated) configuration."""

    channel: Channel
    connector: Connector
    config: BaseModel


def connector_for(kind: str) -> Connector:
    try:
        return registry.get(kind)
    except UnknownChannelKind as exc:
        raise Unprocessable(str(exc), details={"field": "kind"}) from exc


def open_channel(channel: Channel) -> OpenChannel:
    connector = registry.get(channel.kind)
    values = dict(channel.config)
    if channel.secrets:
        plain = crypto.decrypt(_secrets_key(), channel.secrets, channel.id.bytes)
        values.update(orjson.loads(plain))
    # Checked when it was saved; re-checking its URLs against today's allowlist would stop
    # the channel's webhooks too, while the SSRF guard still refuses each send.
    config = connector.config_model.model_validate(values, context=stored_context())
    return OpenChannel(channel, connector, config)


def secrets_set(channel: Channel) -> list[str]:
    if not channel.secrets:
        return []
    plain = crypto.decrypt(_secrets_key(), channel.secrets, channel.id.bytes)
    return sorted(k for k, v in orjson.loads(plain).items() if v not in (None, ""))


def _invalid_config(kind: str, exc: ValidationError, shown: int = 3) -> Unprocessable:
    """A 422 naming each field to fix, in the message as well as in the details."""
    problems = [{"field": ".".join(str(p) for p in e["loc"]),
                 "reason": e["msg"].removeprefix(_VALUE_ERROR)}
                for e in exc.errors(include_url=False, include_input=False)]
    named = "; ".join(f"{p['field'] or 'config'}: {p['reason']}" for p in problems[:shown])
    more = f" (and {len(problems) - shown} more)" if len(problems) > shown else ""
    return Unprocessable(f"This {kind} configuration is not valid: {named}{more}.",
                         details=problems)


class ChannelService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.channels = repo.ChannelRepository(session, workspace_id)

    async def list(self, kind: str | None = None) -> Sequence[Channel]:
        return await self.channels.all(kind)

    async def get(self, channel_id: uuid.UUID) -> Channel:
        channel = await self.channels.get(channel_id)
        if channel is None:
            raise NotFound("Channel not found.", details={"channel_id": str(channel_id)})
        return channel

    async def open(self, channel_id: uuid.UUID) -> OpenChannel:
        return open_channel(await self.get(channel_id))

    async def create(self, data: ChannelCreate) -> Channel:
        connector = connector_for(data.kind)
        channel = Channel(id=uuid7(), kind=data.kind, name=data.name)
        await self._configure(channel, connector, data.config)
        self.channels.add(channel)
        await self.channels.flush()
        self._event("channel.connected", channel)
        return channel

    async def update(self, channel_id: uuid.UUID, data: ChannelUpdate) -> Channel:
        channel = await self.get(channel_id)
        if data.name is not None:
            channel.name = data.name
        if data.is_active is not None:
            channel.is_active = data.is_active
        if data.config is not None:
            current = open_channel(channel).config.model_dump(mode="json")
            await self._configure(channel, registry.get(channel.kind), current | data.config)
        await self.channels.flush()
        self._event("channel.updated", channel)
        return channel

    async def _configure(self, channel: Channel, connector: Connector,
                         raw: dict[str, Any]) -> None:
        try:
            config = connector.config_model.model_validate(raw)
        except ValidationError as exc:
            raise _invalid_config(connector.kind, exc) from None
        address = connector.address_of(config)
        if await repo.address_taken(self.session, channel.kind, address, channel.id):
            raise Conflict(f"Another channel already receives for {address!r}.",
                           code="address_taken", details={"address": address})
        values = config.model_dump(mode="json")
        secret = {k: values.pop(k) for k in sorted(connector.secret_fields) if k in values}
        channel.address = address
        channel.config = values
        channel.secrets = crypto.encrypt(_secrets_key(), orjson.dumps(secret), channel.id.bytes)

    def _event(self, type_: str, channel: Channel) -> None:
        events.record(self.session, self.workspace_id, type_, {
            "channel_id": str(channel.id), "kind": channel.kind,
            "is_active": channel.is_active})
