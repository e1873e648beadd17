"""Identity resolution under random identify/link/merge/update sequences, on a real database.

After every step: no identity belongs to two profiles, every identity value ever seen
resolves to exactly one live profile, every customer id ever issued resolves (in one hop)
to a live profile, and — checked against a union-find model — two identities share a
profile exactly when the operations so far linked them. Each example runs in a fresh
workspace of the test database, so examples cannot see each other's rows.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cxprism.customers.identities import Identity, IdentityKind, normalise
from cxprism.customers.models import Customer, CustomerIdentity
from cxprism.customers.service import CustomerService
from cxprism.kit.db import Database
from cxprism.kit.errors import Conflict

RAW_IDENTITIES = [
    ("email", "p0@example.com", ""), ("email", " P1@Example.COM", ""),
    ("email", "p2@example.com ", ""), ("phone", "+44 20 7946 0018", ""),
    ("phone", "+1 (415) 555-2671", ""), ("external_id", "u1", ""),
    ("external_id", " u2", ""), ("external_id", "u3", ""), ("anonymous_id", "a1", ""),
    ("anonymous_id", "a2", ""), ("social", "@Ann", "Twitter"), ("social", "ann", "instagram"),
    ("webchat_visitor_id", "v1", ""),
]
identity = st.sampled_from(RAW_IDENTITIES).map(lambda raw: normalise(raw[0], raw[1], raw[2]))
operation = st.one_of(
    st.tuples(st.just("identify"), st.lists(identity, min_size=1, max_size=3),
              st.integers(0, 3)),
    st.tuples(st.just("link"), identity, identity),
    st.tuples(st.just("merge"), st.integers(0, 30), st.integers(0, 30)),
    st.tuples(st.just("update"), st.integers(0, 30), st.integers(0, 3)),
)


@dataclass
class Model:
    parent: dict[Identity, Identity] = field(default_factory=dict)
    customer_identity: dict[uuid.UUID, Identity] = field(default_factory=dict)

    def find(self, item: Identity) -> Identity:
        self.parent.setdefault(item, item)
        while self.parent[item] != item:
            item = self.parent[item]
        return item

    def union(self, items: list[Identity]) -> None:
        roots = {self.find(i) for i in items}
        first = min(roots)
        for root in roots:
            self.parent[root] = first

    def root(self, item: Identity) -> Identity:  # find() without registering ``item``
        while self.parent.get(item, item) != item:
            item = self.parent[item]
        return item

    def external_ids(self, items: list[Identity]) -> set[str]:
        roots = {self.root(i) for i in items}
        members = set(self.parent) | set(items)
        return {i.value for i in members
                if i.kind is IdentityKind.EXTERNAL_ID and self.root(i) in roots}


async def apply(service: CustomerService, model: Model, op: tuple[Any, ...]) -> None:
    ids = list(model.customer_identity)
    if op[0] in ("identify", "link"):
        wanted = list(op[1]) if op[0] == "identify" else [op[1], op[2]]
        expect_conflict = len(model.external_ids(wanted)) > 1
        try:
            customer = (await service.identify(wanted, traits={"t": op[2]})
                        if op[0] == "identify" else await service.link(op[1], op[2]))
        except Conflict as exc:
            assert exc.code == "identity_conflict" and expect_conflict
            raise
        assert not expect_conflict
        model.union(wanted)
        model.customer_identity.setdefault(customer.id, wanted[0])
    elif op[0] == "merge" and ids:
        winner, loser = ids[op[1] % len(ids)], ids[op[2] % len(ids)]
        pair = [model.customer_identity[winner], model.customer_identity[loser]]
        if winner == loser:
            return
        expect_conflict = len(model.external_ids(pair)) > 1
        try:
            await service.merge(winner, loser)
        except Conflict as exc:
            assert exc.code == "identity_conflict" and expect_conflict
            raise
        assert not expect_conflict
        model.union(pair)
    elif op[0] == "update" and ids:
        from cxprism.customers.schemas import CustomerUpdate

        await service.update(ids[op[1] % len(ids)], CustomerUpdate(traits={"u": op[2]}))


async def check(service: CustomerService, model: Model) -> None:
    session, workspace_id = service.session, service.workspace_id
    rows = (await session.execute(select(CustomerIdentity).where(
        CustomerIdentity.workspace_id == workspace_id))).scalars().all()
    keys = Counter((r.kind, r.namespace, r.value) for r in rows)
    assert all(n == 1 for n in keys.values()), "an identity has two owners"
    profiles = {c.id: c for c in (await session.execute(select(Customer).where(
        Customer.workspace_id == workspace_id))).scalars()}
    assert all(profiles[r.customer_id].is_live for r in rows), "identity on a dead profile"
    for profile in profiles.values():  # path compression: one hop to a live profile
        if profile.merged_into_id is not None:
            assert profiles[profile.merged_into_id].is_live
    owner = {}
    for seen in model.parent:
        resolved = await service.resolve(seen.kind, seen.value, seen.namespace)
        assert resolved.is_live
        owner[seen] = resolved.id
    for a in model.parent:
        for b in model.parent:
            assert (owner[a] == owner[b]) == (model.find(a) == model.find(b))
    for customer_id, seen in model.customer_identity.items():
        assert (await service.get(customer_id)).id == owner[seen]
    live = {c.id for c in profiles.values() if c.is_live}
    assert live == set(owner.values())


async def run(url: str, ops: list[tuple[Any, ...]]) -> None:
    db = Database(url, pool_size=2)
    workspace_id, model = uuid.uuid4(), Model()
    try:
        for op in ops:
            async with db.session() as session:
                try:
                    await apply(CustomerService(session, workspace_id), model, op)
                    await session.commit()
                except Conflict:
                    await session.rollback()
            async with db.session() as session:
                await check(CustomerService(session, workspace_id), model)
    finally:
        await db.dispose()


@settings(max_examples=50, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=st.lists(operation, min_size=1, max_size=15))
@example(ops=[  # a chain of merges: the first loser must end up pointing at the last winner
    ("identify", [normalise("email", "p0@example.com")], 0),
    ("identify", [normalise("email", "p1@example.com")], 1),
    ("identify", [normalise("email", "p2@example.com")], 2),
    ("merge", 1, 0), ("merge", 2, 1)])
def test_random_operations_keep_one_owner_and_one_live_profile(
        database_url: str, ops: list[tuple[Any, ...]]) -> None:
    asyncio.run(run(database_url, ops))
