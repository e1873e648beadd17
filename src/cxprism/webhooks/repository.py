"""Every query on webhook endpoints, deliveries and attempts.

The API's queries go through the workspace-scoped repositories. The fan-out consumer and
the delivery worker act for the workspace named by the event or the job, and pass it to
every query too: a job can never touch another workspace's delivery.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import for_update, insert_ignore
from cxprism.kit.repository import WorkspaceRepository
from cxprism.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)


class EndpointRepository(WorkspaceRepository[WebhookEndpoint]):
    model = WebhookEndpoint

    async def all(self) -> Sequence[WebhookEndpoint]:
        stmt = self.select().order_by(WebhookEndpoint.id)
        rows: Sequence[WebhookEndpoint] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def active(self) -> Sequence[WebhookEndpoint]:
        stmt = self.select().where(WebhookEndpoint.is_active.is_(True))
        rows: Sequence[WebhookEndpoint] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def delete(self, endpoint: WebhookEndpoint) -> None:
        await self.session.delete(endpoint)


class DeliveryRepository(WorkspaceRepository[WebhookDelivery]):
    model = WebhookDelivery

    async def insert_new(self, rows: Sequence[Mapping[str, Any]]) -> set[uuid.UUID]:
        """Insert deliveries, skipping any (endpoint, event) pair already there; the ids of
        the inserted ones. An event redelivered by the bus makes no second delivery."""
        if not rows:
            return set()
        values = [{**row, "workspace_id": self.workspace_id} for row in rows]
        stmt = insert_ignore(self.dialect, WebhookDelivery, values, ["endpoint_id", "event_id"])
        result = await self.session.execute(stmt.returning(WebhookDelivery.id))
        return set(result.scalars())

    async def get_locked(self, delivery_id: uuid.UUID) -> WebhookDelivery | None:
        """Row-locked until the transaction ends (a worker recording an attempt waits)."""
        stmt = for_update(self.dialect, self.select().where(WebhookDelivery.id == delivery_id))
        found: WebhookDelivery | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def newest_first(self, endpoint_id: uuid.UUID, status: str | None,
                           before: uuid.UUID | None,
                           limit: int) -> tuple[Sequence[WebhookDelivery], uuid.UUID | None]:
        """A page of an endpoint's deliveries, newest first (ids are time-ordered), and
        the id to continue before (None on the last page)."""
        stmt = self.select().where(WebhookDelivery.endpoint_id == endpoint_id)
        if status is not None:
            stmt = stmt.where(WebhookDelivery.status == status)
        if before is not None:
            stmt = stmt.where(WebhookDelivery.id < before)
        stmt = stmt.order_by(WebhookDelivery.id.desc()).limit(limit + 1)
        rows: list[WebhookDelivery] = list((await self.session.execute(stmt)).scalars())
        if len(rows) > limit:
            return rows[:limit], rows[limit - 1].id
        return rows, None

    async def cancel_pending(self, endpoint_id: uuid.UUID, reason: str,
                             now: datetime) -> None:
        await self.session.execute(update(WebhookDelivery).where(
            WebhookDelivery.workspace_id == self.workspace_id,
            WebhookDelivery.endpoint_id == endpoint_id,
            WebhookDelivery.status == DeliveryStatus.PENDING.value,
        ).values(status=DeliveryStatus.CANCELLED.value, next_attempt_at=None,
                 last_error=reason, updated_at=now))


class AttemptRepository(WorkspaceRepository[WebhookAttempt]):
    model = WebhookAttempt

    async def of_delivery(self, delivery_id: uuid.UUID) -> Sequence[WebhookAttempt]:
        stmt = self.select().where(WebhookAttempt.delivery_id == delivery_id).order_by(
            WebhookAttempt.number, WebhookAttempt.id)
        rows: Sequence[WebhookAttempt] = (await self.session.execute(stmt)).scalars().all()
        return rows


# --- the delivery worker: many workspaces in one batch ------------------------------------

async def deliveries_of(session: AsyncSession, wanted: Mapping[uuid.UUID, uuid.UUID], *,
                        lock: bool) -> dict[uuid.UUID, WebhookDelivery]:
    """``wanted`` maps delivery ids to the workspace their job names; each delivery found
    in that workspace. ``lock``: row-locked (in id order, so two workers cannot deadlock)
    until the transaction ends, and read fresh."""
    if not wanted:
        return {}
    stmt = select(WebhookDelivery).where(WebhookDelivery.id.in_(list(wanted))).order_by(
        WebhookDelivery.id)
    stmt = for_update(session.get_bind().dialect.name, stmt) if lock else stmt.execution_options(
        populate_existing=True)
    rows = (await session.execute(stmt)).scalars()
    return {row.id: row for row in rows if wanted[row.id] == row.workspace_id}


async def endpoints_of(session: AsyncSession,
                       ids: Collection[uuid.UUID]) -> dict[uuid.UUID, WebhookEndpoint]:
    """Endpoints by id (each delivery's own, already scoped to the job's workspace)."""
    if not ids:
        return {}
    stmt = select(WebhookEndpoint).where(WebhookEndpoint.id.in_(list(ids))).execution_options(
        populate_existing=True)
    return {row.id: row for row in (await session.execute(stmt)).scalars()}


def add_attempts(session: AsyncSession, attempts: Sequence[WebhookAttempt]) -> None:
    session.add_all(attempts)


async def disable_endpoint(session: AsyncSession, endpoint: WebhookEndpoint, reason: str,
                           now: datetime) -> bool:
    """Disable an active endpoint; False if it was already disabled (by a neighbour in
    the same batch, or an admin)."""
    result = await session.execute(update(WebhookEndpoint).where(
        WebhookEndpoint.id == endpoint.id, WebhookEndpoint.workspace_id == endpoint.workspace_id,
        WebhookEndpoint.is_active.is_(True),
    ).values(is_active=False, disabled_reason=reason[:500], disabled_at=now, updated_at=now))
    return bool(result.rowcount)  # type: ignore[attr-defined]
