"""Connecting channels: connectors on offer, and the workspace's channels."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels import schemas
from cxprism.channels.cache import channel_cache_of
from cxprism.channels.models import Channel
from cxprism.channels.protocol import WebhookConnector
from cxprism.channels.registry import registry
from cxprism.channels.service import ChannelService, secrets_set
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(route_class=TransactionalRoute, tags=["channels"])

Session = Depends(db_session)
Manage = Depends(require(Permission.CHANNELS_MANAGE))


def _out(request: Request, channel: Channel) -> schemas.ChannelOut:
    connector = registry.get(channel.kind)
    inbound = None
    if isinstance(connector, WebhookConnector):
        base = request.app.state.settings.base_url.rstrip("/")
        inbound = f"{base}/hooks/{channel.kind}/{channel.id}"
    return schemas.ChannelOut(
        id=channel.id, kind=channel.kind, name=channel.name, address=channel.address,
        config=channel.config, secrets_set=secrets_set(channel), is_active=channel.is_active,
        inbound_url=inbound, created_at=channel.created_at, updated_at=channel.updated_at)


@router.get("/connectors", response_model=schemas.ConnectorList)
async def list_connectors(_principal: Principal = Manage) -> object:
    """Every channel kind this server can connect, with its configuration schema."""
    return {"data": [
        {"kind": kind, "webhook": isinstance(c, WebhookConnector),
         "config_schema": c.config_model.model_json_schema(),
         "secret_fields": sorted(c.secret_fields)}
        for kind in registry.kinds() for c in [registry.get(kind)]]}


@router.get("/channels", response_model=schemas.ChannelList)
async def list_channels(request: Request, kind: str | None = None,
                        session: AsyncSession = Session, principal: Principal = Manage) -> object:
    channels = await ChannelService(session, principal.workspace_id).list(kind)
    return {"data": [_out(request, c) for c in channels]}


@router.post("/channels", response_model=schemas.ChannelOut, status_code=201)
async def create_channel(request: Request, data: schemas.ChannelCreate, after: BackgroundTasks,
                         session: AsyncSession = Session, principal: Principal = Manage) -> object:
    channel = await ChannelService(session, principal.workspace_id).create(data)
    after.add_task(channel_cache_of(request.app.state).forget)  # once committed
    return _out(request, channel)


@router.get("/channels/{channel_id}", response_model=schemas.ChannelOut)
async def get_channel(request: Request, channel_id: uuid.UUID, session: AsyncSession = Session,
                      principal: Principal = Manage) -> object:
    return _out(request, await ChannelService(session, principal.workspace_id).get(channel_id))


@router.patch("/channels/{channel_id}", response_model=schemas.ChannelOut)
async def update_channel(  # noqa: PLR0917 - FastAPI parameters
        request: Request, channel_id: uuid.UUID, data: schemas.ChannelUpdate,
        after: BackgroundTasks, session: AsyncSession = Session,
        principal: Principal = Manage) -> object:
    channel = await ChannelService(session, principal.workspace_id).update(channel_id, data)
    after.add_task(channel_cache_of(request.app.state).forget)  # once committed
    return _out(request, channel)
