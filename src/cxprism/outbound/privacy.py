"""Sends are personal data (the recipient's address and what they were told): in a
customer's export, and deleted by their erasure."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers import holders
from cxprism.customers.identities import Identity
from cxprism.customers.service import CustomerService
from cxprism.outbound.models import Send
from cxprism.outbound.repository import SendRepository
from cxprism.outbound.schemas import SendOut


async def _customer_ids(session: AsyncSession, workspace_id: uuid.UUID,
                        identities: Sequence[Identity]) -> list[uuid.UUID]:
    customers = CustomerService(session, workspace_id)
    owners = set((await customers.owners(identities)).values())
    for owner in list(owners):
        owners.update(await customers.merged_from(owner))
    return sorted(owners)


class Sends:
    name = "outbound_sends"

    async def export(self, session: AsyncSession, workspace_id: uuid.UUID,
                     identities: Sequence[Identity]) -> Any:
        ids = await _customer_ids(session, workspace_id, identities)
        if not ids:
            return []
        sends = await SendRepository(session, workspace_id).of_customer(ids)
        return [SendOut.model_validate(s).model_dump(mode="json") for s in sends]

    async def erase(self, session: AsyncSession, workspace_id: uuid.UUID,
                    identities: Sequence[Identity]) -> None:
        ids = await _customer_ids(session, workspace_id, identities)
        if ids:
            await session.execute(delete(Send).where(Send.workspace_id == workspace_id,
                                                     Send.customer_id.in_(ids)))


holders.register(Sends())
