"""Tracked events are personal data: they go into a customer's export and their erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers import holders
from cxprism.customers.identities import Identity, IdentityKind
from cxprism.tracking import repository as repo
from cxprism.tracking.schemas import TrackedEventOut


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
        events = await repo.EventRepository(session, workspace_id).all_of(
            user_ids, anonymous_ids)
        return [TrackedEventOut.of(e).model_dump(mode="json") for e in events]

    async def erase(self, session: AsyncSession, workspace_id: uuid.UUID,
                    identities: Sequence[Identity]) -> None:
        user_ids, anonymous_ids = _ids(identities)
        if user_ids or anonymous_ids:
            await repo.EventRepository(session, workspace_id).delete_of(user_ids, anonymous_ids)
            await repo.GroupRepository(session, workspace_id).leave_all(user_ids, anonymous_ids)


holders.register(TrackedEvents())
