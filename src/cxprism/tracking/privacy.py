"""Tracked events are personal data: they go into a customer's export and their erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers import holders
from cxprism.customers.identities import Identity, IdentityKind
from cxprism.tracking.schemas import TrackedEventOut
from cxprism.tracking.service import TrackingService


def _ids(identities: Sequence[Identity]) -> tuple[list[str], list[str]]:
    return ([i.value for i in identities if i.kind is IdentityKind.EXTERNAL_ID],
            [i.value for i in identities if i.kind is IdentityKind.ANONYMOUS_ID])


class TrackedEvents:
    name = "tracked_events"

    async def export(self, session: AsyncSession, workspace_id: uuid.UUID,
                     identities: Sequence[Identity]) -> Any:
        user_ids, anonymous_ids = _ids(identities)
        if not user_ids and not anonymous_ids:
            return []
        events = await TrackingService(session, workspace_id).events_of_ids(
            user_ids, anonymous_ids)
        return [TrackedEventOut.of(e).model_dump(mode="json") for e in events]

    async def erase(self, session: AsyncSession, workspace_id: uuid.UUID,
                    identities: Sequence[Identity]) -> None:
        user_ids, anonymous_ids = _ids(identities)
        if user_ids or anonymous_ids:
            await TrackingService(session, workspace_id).forget_ids(user_ids, anonymous_ids)


holders.register(TrackedEvents())
