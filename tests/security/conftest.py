from __future__ import annotations

import httpx
import pytest

from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.security.owned_objects import CAROL, DAVE, OwnedObjects, build_owned_objects


@pytest.fixture
async def owned(client: httpx.AsyncClient, tenant: Tenant, db: Database) -> OwnedObjects:
    """Workspace A's objects: the ones the walks try to reach."""
    return await build_owned_objects(client, tenant, db)


@pytest.fixture
async def theirs(client: httpx.AsyncClient, other_tenant: Tenant,
                 db: Database) -> OwnedObjects:
    """Workspace B's own objects of every kind, for mixing B's ids with A's."""
    return await build_owned_objects(client, other_tenant, db, people=(CAROL, DAVE))
