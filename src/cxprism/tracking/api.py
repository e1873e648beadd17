"""The tracking read API: events, the event catalogue, counters and groups."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import clamp_limit
from cxprism.kit.validation import query_text, query_time
from cxprism.tracking import schemas
from cxprism.tracking.service import EventFilter, TrackingService
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(route_class=TransactionalRoute, tags=["tracking"])

Session = Depends(db_session)
CustomerRead = Depends(require(Permission.CUSTOMERS_READ))
TrackingRead = Depends(require(Permission.TRACKING_READ))
MAX_MEMBERS = 200


@router.get("/customers/{customer_id}/groups", response_model=schemas.CustomerGroups)
async def customer_groups(customer_id: uuid.UUID, session: AsyncSession = Session,
                          principal: Principal = CustomerRead) -> object:
    service = TrackingService(session, principal.workspace_id)
    return {"data": await service.groups_of_customer(customer_id)}


@router.get("/events", response_model=schemas.EventPage)
async def list_events(  # noqa: PLR0917 - FastAPI query parameters
        customer_id: uuid.UUID | None = None, name: str | None = Query(None, max_length=255),
        type: str | None = None,
        since: datetime | None = None, until: datetime | None = None,
        cursor: str | None = None, limit: int | None = None,
        session: AsyncSession = Session, principal: Principal = TrackingRead) -> object:
    """Tracked events, newest first, filtered by customer, name, type and time range."""
    service = TrackingService(session, principal.workspace_id)
    query = EventFilter(customer_id, query_text("name", name), type,
                        query_time("since", since), query_time("until", until))
    found, next_cursor = await service.search(query, cursor, clamp_limit(limit))
    return {"data": [schemas.TrackedEventOut.of(e) for e in found], "next_cursor": next_cursor}


@router.get("/event-names", response_model=schemas.Catalogue)
async def event_catalogue(type: str | None = None,
                          session: AsyncSession = Session,
                          principal: Principal = TrackingRead) -> object:
    """Every event name the workspace has sent, with counts and first/last seen."""
    entries = await TrackingService(session, principal.workspace_id).catalogue(type)
    return {"data": [schemas.CatalogueEntryOut(
        type=e.type, name=e.name or None, count=e.count, first_seen_at=e.first_seen_at,
        last_seen_at=e.last_seen_at) for e in entries]}


@router.get("/sources/{source_id}/stats", response_model=schemas.SourceStatsOut)
async def source_stats(source_id: uuid.UUID, session: AsyncSession = Session,
                       principal: Principal = TrackingRead) -> object:
    stats = await TrackingService(session, principal.workspace_id).source_stats(source_id)
    dropped = stats.rejected + stats.deduplicated + stats.suppressed
    return schemas.SourceStatsOut(
        source_id=source_id, received=stats.received, stored=stats.received - dropped,
        rejected=stats.rejected, deduplicated=stats.deduplicated, suppressed=stats.suppressed,
        last_received_at=stats.last_received_at)


@router.get("/groups/{group_id}", response_model=schemas.GroupDetail)
async def get_group(group_id: str, session: AsyncSession = Session,
                    principal: Principal = TrackingRead) -> object:
    group, members = await TrackingService(session, principal.workspace_id).group(
        query_text("group_id", group_id) or group_id, MAX_MEMBERS)
    return schemas.GroupDetail(
        group_id=group.group_id, traits=group.traits, first_seen_at=group.first_seen_at,
        last_seen_at=group.last_seen_at,
        members=[schemas.GroupMemberOut.model_validate(m) for m in members])
