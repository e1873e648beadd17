"""Concurrent identify calls for the same new person end with exactly one profile.

On PostgreSQL the calls really race (READ COMMITTED, one connection each): the losers hit
the unique constraint inside their savepoint and resolve to the winner's profile. On SQLite
the writers queue behind BEGIN IMMEDIATE, which must give the same result.
"""

from __future__ import annotations

import asyncio
import uuid

from sqlalchemy import func, select

from cxprism.customers.identities import normalise
from cxprism.customers.models import Customer, CustomerIdentity
from cxprism.customers.service import CustomerService
from cxprism.kit.db import Database

CALLERS = 16


async def _identify(db: Database, workspace_id: uuid.UUID, n: int) -> uuid.UUID:
    async with db.session() as session:
        wanted = [normalise("email", "Race@Example.com"), normalise("anonymous_id", f"dev-{n}")]
        customer = await CustomerService(session, workspace_id).identify(
            wanted, traits={f"k{n}": n})
        await session.commit()
        return customer.id


async def test_concurrent_identify_with_the_same_new_email_makes_one_profile(
        database_url: str) -> None:
    db = Database(database_url, pool_size=CALLERS)
    workspace_id = uuid.uuid4()
    try:
        ids = await asyncio.gather(*(_identify(db, workspace_id, n) for n in range(CALLERS)))
        assert len(set(ids)) == 1
        async with db.session() as session:
            live = (await session.execute(select(Customer).where(
                Customer.workspace_id == workspace_id))).scalars().all()
            assert [c.id for c in live] == [ids[0]]
            assert live[0].traits == {f"k{n}": n for n in range(CALLERS)}
            owned = await session.execute(select(func.count()).select_from(
                CustomerIdentity).where(CustomerIdentity.workspace_id == workspace_id,
                                        CustomerIdentity.customer_id == ids[0]))
            assert owned.scalar_one() == CALLERS + 1
    finally:
        await db.dispose()
