"""Which profile wins a merge, and which merges are refused: pure rules, no I/O."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from cxprism.customers.identities import Identity, IdentityKind
from cxprism.customers.models import Customer
from cxprism.kit.errors import Conflict


def pick_winner(profiles: Sequence[Customer], target_id: uuid.UUID | None) -> Customer:
    if target_id is not None:
        return next(p for p in profiles if p.id == target_id)
    return min(profiles, key=lambda p: (p.created_at, p.id))  # the oldest profile


def refuse_two_external_ids(wanted: list[Identity], existing: list[Identity],
                             customer_ids: list[uuid.UUID] | None = None) -> None:
    """A person has one account id in the business's own system; two mean two people."""
    external = sorted({i.value for i in [*wanted, *existing]
                       if i.kind is IdentityKind.EXTERNAL_ID})
    if len(external) > 1:
        raise Conflict(
            f"These identities join profiles with different external user ids "
            f"({', '.join(repr(e) for e in external)}); a profile holds one external id, so "
            f"they are not merged. Remove the identity that links them, or merge explicitly "
            f"after fixing the ids.",
            code="identity_conflict",
            details={"external_ids": external,
                     "customer_ids": [str(c) for c in customer_ids or []]})
