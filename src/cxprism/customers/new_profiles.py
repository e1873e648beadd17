"""Profiles for many people seen for the first time, in a few statements for them all.

A burst of inbound messages (an SMS campaign's answers, say) brings many senders nobody
knows yet. ``CustomerService.identify`` resolves each in its own savepoint with several
round trips; here all of them get their profile and identities together. The unique
constraint on identities is still the one-owner guarantee: if a concurrent transaction
took any of them first, the savepoint rolls back, nothing is created, and the caller
resolves them one by one (which then finds the winner's rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy.exc import IntegrityError

from cxprism.customers.identities import Identity, IdentityKind, shared_identities
from cxprism.customers.models import Customer, CustomerIdentity
from cxprism.kit.clock import utcnow

if TYPE_CHECKING:
    from cxprism.customers.service import CustomerService

People = Sequence[tuple[Identity, ...]]
"""Each person's identities, none of them owned by a profile yet."""


async def create_profiles(service: CustomerService,
                          people: People) -> dict[Identity, uuid.UUID]:
    """A new profile for each person (owner of each of their identities); empty when any
    identity was claimed concurrently. People with a suppressed identity, or sharing an
    identity with another entry, are left out: ``identify`` deals with them."""
    chosen = _distinct(people)
    suppressed = await service.privacy().suppressed_among(
        sorted({i for person in chosen for i in person}))
    chosen = [person for person in chosen if not suppressed.intersection(person)]
    if not chosen:
        return {}
    try:
        async with service.session.begin_nested():
            profiles = [service.customers.add(Customer(traits={}, trait_updated_at={}))
                        for _ in chosen]
            await service.customers.flush()
            now = utcnow()
            # In identity order across the batch: two transactions inserting overlapping
            # identities take their unique-index locks in one order (no deadlock).
            for identity, profile in sorted(
                    ((identity, profile) for profile, person in zip(profiles, chosen, strict=True)
                     for identity in person), key=lambda pair: pair[0]):
                service.identities.add(CustomerIdentity(
                    customer_id=profile.id, kind=identity.kind.value,
                    namespace=identity.namespace, value=identity.value,
                    first_seen_at=now, last_seen_at=now))
            await service.identities.flush()
    except IntegrityError:
        return {}
    owners: dict[Identity, uuid.UUID] = {}
    for profile, person in zip(profiles, chosen, strict=True):
        service.event("customer.created", {"customer_id": str(profile.id)})
        service.event("identity.linked", {"customer_id": str(profile.id),
                                          "kinds": [i.kind.value for i in person]})
        owners.update(dict.fromkeys(person, profile.id))
    return owners


def _distinct(people: People) -> list[tuple[Identity, ...]]:
    """Each identity set once (in a fixed order), none sharing an identity with another
    (one person, or a merge: not for here) and none with two external ids (refused by
    ``identify``)."""
    unique = sorted({tuple(sorted(set(person))) for person in people if person
                     and sum(i.kind is IdentityKind.EXTERNAL_ID for i in person) <= 1})
    shared = shared_identities(unique)
    return [person for person in unique if shared.isdisjoint(person)]
