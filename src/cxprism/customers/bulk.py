"""Reading many profiles at once, for callers that act on thousands of customers (the
outbound pipeline, campaigns): one query per kind of data instead of one per customer."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers.identities import Identity
from cxprism.customers.models import Customer, CustomerIdentity
from cxprism.customers.repository import CustomerRepository, IdentityRepository
from cxprism.customers.service import CustomerService
from cxprism.kit.errors import AppError


class BulkReads:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.customers = CustomerRepository(session, workspace_id)
        self.identities = IdentityRepository(session, workspace_id)

    async def profiles(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Customer | AppError]:
        """Each id's live profile (following merges), or the error a single read gives
        (404 unknown, 410 erased)."""
        found: dict[uuid.UUID, Customer | AppError] = {}
        for customer in await self.customers.many(set(ids)):
            if customer.is_live:
                found[customer.id] = customer
        single = CustomerService(self.session, self.workspace_id)
        for customer_id in set(ids) - set(found):  # merged, erased or unknown: rare
            try:
                found[customer_id] = await single.get(customer_id)
            except AppError as exc:
                found[customer_id] = exc
        return found

    async def profile_ids(self, identities: Sequence[Identity]) -> list[uuid.UUID]:
        """The profiles these identities lead to: their live owners and every profile
        merged into them (what a holder of personal data exports or erases)."""
        customers = CustomerService(self.session, self.workspace_id)
        owners = set((await customers.owners(identities)).values())
        for owner in list(owners):
            owners.update(await customers.merged_from(owner))
        return sorted(owners)

    async def identities_of(self, ids: Sequence[uuid.UUID]
                            ) -> dict[uuid.UUID, list[CustomerIdentity]]:
        grouped: dict[uuid.UUID, list[CustomerIdentity]] = {i: [] for i in ids}
        for identity in await self.identities.of_customers(set(ids)):
            grouped.setdefault(identity.customer_id, []).append(identity)
        return grouped
