"""Sends are personal data (the recipient's address and what they were told): in a
customer's export, and deleted by their erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers import holders
from cxprism.customers.bulk import BulkReads
from cxprism.customers.identities import Identity
from cxprism.outbound.repository import SendRepository
from cxprism.outbound.schemas import SendOut


class Sends:
    name = "outbound_sends"

    async def export(self, session: AsyncSession, workspace_id: uuid.UUID,
                     identities: Sequence[Identity]) -> Any:
        ids = await BulkReads(session, workspace_id).profile_ids(identities)
        if not ids:
            return []
        sends = await SendRepository(session, workspace_id).of_customer(ids)
        return [SendOut.model_validate(s).model_dump(mode="json") for s in sends]

    async def erase(self, session: AsyncSession, workspace_id: uuid.UUID,
                    identities: Sequence[Identity]) -> None:
        ids = await BulkReads(session, workspace_id).profile_ids(identities)
        if ids:
            await SendRepository(session, workspace_id).delete_of(ids)


holders.register(Sends())
