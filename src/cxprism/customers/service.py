"""Customer profiles and identity resolution. Flushes, never commits.

Invariants (property-tested in tests/customers/test_resolution_properties.py):
1. an identity value belongs to at most one profile per workspace — the UNIQUE constraint
   on customer_identities guarantees it, even across concurrent transactions;
2. every identity row points at a *live* profile (merges move them to the winner), and a
   merged-away profile points straight at its live winner (path compression), so any id
   or identity ever seen resolves to exactly one live profile in one hop.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.customers import traits as trait_rules
from cxprism.customers.consent import ConsentBook, Decision
from cxprism.customers.identities import Identity, IdentityKind, InvalidIdentity, normalise
from cxprism.customers.merge_rules import pick_winner, refuse_two_external_ids
from cxprism.customers.models import (
    Consent,
    ConsentEvent,
    Customer,
    CustomerIdentity,
    DataSubjectRequest,
)
from cxprism.customers.new_profiles import People, create_profiles
from cxprism.customers.repository import (
    ConsentRepository,
    CustomerRepository,
    IdentityRepository,
    created_between,
    identity_match,
    trait_equals,
)
from cxprism.customers.schemas import CustomerUpdate
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, Gone, NotFound, Unprocessable

if TYPE_CHECKING:
    from cxprism.customers.privacy import PrivacyService

# Attempts at an identify that lost a race for a new identity to a concurrent transaction;
# between attempts a short jittered pause lets the winner commit instead of racing it again.
IDENTIFY_ATTEMPTS = 8
RETRY_PAUSE_SECONDS = 0.005
# Attempts at locking the live profiles some ids resolve to while others merge them.
LOCK_ATTEMPTS = 5
MAX_HOPS = 8


class _LostRace(Exception):
    """A profile we read was merged or erased by a concurrent transaction; resolve again."""


@dataclass(frozen=True)
class Identified:
    customer: Customer
    created: bool


@dataclass(frozen=True)
class SearchQuery:
    identity_kind: IdentityKind | None = None
    identity_value: str | None = None
    namespace: str | None = None
    prefix: bool = False
    traits: tuple[tuple[str, str], ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None


def erased(customer_id: uuid.UUID) -> Gone:
    return Gone("This customer was erased at their request; nothing about them is kept.",
                code="customer_erased", details={"customer_id": str(customer_id)})


class CustomerService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor_id: uuid.UUID | None = None) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.actor_id = actor_id
        self.customers = CustomerRepository(session, workspace_id)
        self.identities = IdentityRepository(session, workspace_id)
        self.consents = ConsentBook(ConsentRepository(session, workspace_id))

    def event(self, type_: str, payload: dict[str, Any]) -> None:
        # Ids only: the ledger commits to payloads, so personal data never goes in clear.
        actor = str(self.actor_id) if self.actor_id else None
        events.record(self.session, self.workspace_id, type_, {**payload, "actor_id": actor})

    # Reading ---------------------------------------------------------------------------

    async def root(self, customer_id: uuid.UUID) -> Customer:
        """The profile ``customer_id`` ends in after merges (live or erased); 404 if unknown."""
        customer = await self.customers.get(customer_id)
        for _ in range(MAX_HOPS):
            if customer is None:
                break
            if customer.merged_into_id is None:
                return customer
            customer = await self.customers.get(customer.merged_into_id)
        raise NotFound("Customer not found.", details={"customer_id": str(customer_id)})

    async def get(self, customer_id: uuid.UUID) -> Customer:
        """The live profile for any id it ever had; 410 when erased."""
        customer = await self.root(customer_id)
        if customer.erased_at is not None:
            raise erased(customer_id)
        return customer

    async def resolve(self, kind: IdentityKind | str, value: str, namespace: str = "",
                      region: str | None = None) -> Customer:
        identity = _normalised(kind, value, namespace, region)
        rows = await self.identities.owned_by_any([identity])
        if not rows:
            raise NotFound("No customer has this identity.")
        return await self.get(rows[0].customer_id)

    async def owners(self, identities: Sequence[Identity]) -> dict[Identity, uuid.UUID]:
        """The live profile owning each identity that has one (one query for them all)."""
        rows = await self.identities.owned_by_any(identities)
        return {Identity(IdentityKind(r.kind), r.namespace, r.value): r.customer_id for r in rows}

    async def identities_of(self, customer_id: uuid.UUID) -> Sequence[CustomerIdentity]:
        return await self.identities.of_customer(customer_id)

    async def merged_from(self, customer_id: uuid.UUID) -> list[uuid.UUID]:
        return [c.id for c in await self.customers.merged_into(customer_id)]

    async def search(self, query: SearchQuery, after: uuid.UUID | None,
                     limit: int) -> tuple[Sequence[Customer], uuid.UUID | None]:
        conditions = created_between(query.created_after, query.created_before)
        if query.identity_value is not None:
            if query.identity_kind is None:
                raise Unprocessable("identity_value needs identity_kind.",
                                    details={"field": "identity_kind"})
            value, namespace = _search_value(query)
            conditions.append(identity_match(query.identity_kind.value, namespace, value,
                                             query.prefix))
        conditions.extend(trait_equals(key, value) for key, value in query.traits)
        return await self.customers.search(conditions, after, limit)

    # Identity resolution ---------------------------------------------------------------

    async def identify(self, identities: Sequence[Identity], traits: dict[str, Any] | None = None,
                       timezone: str | None = None, locale: str | None = None) -> Customer:
        return (await self.identify_outcome(identities, traits, timezone, locale)).customer

    async def identify_outcome(self, identities: Sequence[Identity],
                               traits: dict[str, Any] | None = None,
                               timezone: str | None = None, locale: str | None = None,
                               target_id: uuid.UUID | None = None) -> Identified:
        """Find, create or merge the profile these identities name, then attach them all.

        ``target_id`` (attaching to a known profile) makes that profile the merge winner;
        otherwise the oldest owner wins. Losing a race for a new identity to a concurrent
        transaction rolls back the savepoint and resolves again against the winner's row.
        """
        wanted = sorted(set(identities))  # a fixed order: concurrent inserts cannot deadlock
        refuse_two_external_ids(wanted, [])
        await self._refuse_suppressed(wanted)
        for attempt in range(IDENTIFY_ATTEMPTS):
            try:
                async with self.session.begin_nested():
                    outcome = await self._identify_once(wanted, target_id)
                    changed = await self._apply(outcome.customer, traits, timezone, locale)
            except (IntegrityError, _LostRace):
                await _pause_before_retry(attempt)  # the savepoint is rolled back already
                continue
            if changed and not outcome.created:
                self.event("customer.updated",
                           {"customer_id": str(outcome.customer.id), "fields": changed})
            return outcome
        raise Conflict("Concurrent requests kept claiming these identities; retry the request.",
                       code="concurrent_change")

    async def create_for_new(self, people: People) -> dict[Identity, uuid.UUID]:
        """Profiles for many people none of whose identities is known (see
        ``customers.new_profiles``): the owner of each identity created; empty if any was
        claimed concurrently."""
        return await create_profiles(self, people)

    async def link(self, first: Identity, second: Identity) -> Customer:
        """Two identities belong to the same person: one profile owns both afterwards."""
        return await self.identify([first, second])

    async def attach(self, customer_id: uuid.UUID, identities: Sequence[Identity]) -> Customer:
        target = await self.get(customer_id)
        outcome = await self.identify_outcome(identities, target_id=target.id)
        return outcome.customer

    async def _identify_once(self, wanted: list[Identity],
                             target_id: uuid.UUID | None) -> Identified:
        rows = await self.identities.owned_by_any(wanted)
        owner_ids = {row.customer_id for row in rows} | ({target_id} if target_id else set())
        created = not owner_ids
        if created:
            winner = self.customers.add(Customer(traits={}, trait_updated_at={}))
            await self.customers.flush()
            self.event("customer.created", {"customer_id": str(winner.id)})
            profiles = [winner]
        else:
            profiles = await self.customers.lock_live(owner_ids)
            if len(profiles) != len(owner_ids) or not all(p.is_live for p in profiles):
                raise _LostRace
            winner = pick_winner(profiles, target_id)
            await self._refuse_conflicting_merge(profiles, wanted)
        for loser in profiles:
            if loser.id != winner.id:
                await self._merge(winner, loser)
        await self._attach_new(winner, wanted, {(r.kind, r.namespace, r.value): r for r in rows})
        return Identified(winner, created)

    async def _attach_new(self, customer: Customer, wanted: list[Identity],
                          known: dict[tuple[str, str, str], CustomerIdentity]) -> None:
        now, added = utcnow(), []
        for identity in wanted:
            row = known.get((identity.kind.value, identity.namespace, identity.value))
            if row is not None:
                row.last_seen_at = now
                continue
            self.identities.add(CustomerIdentity(
                customer_id=customer.id, kind=identity.kind.value,
                namespace=identity.namespace, value=identity.value,
                first_seen_at=now, last_seen_at=now))
            added.append(identity.kind.value)
        await self.identities.flush()
        if added:
            self.event("identity.linked", {"customer_id": str(customer.id), "kinds": added})

    async def _apply(self, customer: Customer, traits: dict[str, Any] | None,
                     timezone: str | None, locale: str | None) -> list[str]:
        changed: list[str] = []
        if traits:
            state, names = trait_rules.apply_patch(
                trait_rules.TraitState(dict(customer.traits), dict(customer.trait_updated_at)),
                traits, utcnow())
            customer.traits, customer.trait_updated_at = state.traits, state.stamps
            changed += [f"traits.{name}" for name in names]
        for field, value in (("timezone", timezone), ("locale", locale)):
            if value is not None and getattr(customer, field) != value:
                setattr(customer, field, value)
                changed.append(field)
        if changed:
            customer.updated_at = utcnow()
            await self.customers.flush()
        return changed

    async def update(self, customer_id: uuid.UUID, data: CustomerUpdate) -> Customer:
        [customer] = await self.lock_live_roots([customer_id])
        changed = await self._apply(customer, data.traits, data.timezone, data.locale)
        for field in ("timezone", "locale"):
            if field in data.model_fields_set and getattr(data, field) is None \
                    and getattr(customer, field) is not None:
                setattr(customer, field, None)
                changed.append(field)
        if changed:
            customer.updated_at = utcnow()
            await self.customers.flush()
            self.event("customer.updated", {"customer_id": str(customer.id), "fields": changed})
        return customer

    # Merging ---------------------------------------------------------------------------

    async def merge(self, winner_id: uuid.UUID, loser_id: uuid.UUID) -> Customer:
        """Merge the live profiles the two ids resolve to (after any concurrent merge).

        If a concurrent merge already joined them, they resolve to one profile and nothing
        changes; a merge never makes a profile point at itself through a cycle.
        """
        winner, loser = await self.lock_live_roots([winner_id, loser_id])
        if winner.id == loser.id:
            return winner  # already one profile: merging again changes nothing
        await self._refuse_conflicting_merge([winner, loser], [])
        await self._merge(winner, loser)
        return winner

    async def lock_live_roots(self, customer_ids: Sequence[uuid.UUID]) -> list[Customer]:
        """The live profiles ``customer_ids`` resolve to, row-locked until the transaction ends.

        Resolution reads without locks, so a concurrent merge or erasure can change a root
        before its lock is granted: the locked rows are re-read (populate_existing) and
        re-checked, and on a change every lock of the attempt is released (savepoint
        rollback) before resolving again, so locks are always taken in id order. 404 / 410
        as :meth:`get` when an id is unknown or its person was erased meanwhile.
        """
        for _attempt in range(LOCK_ATTEMPTS):
            roots = [await self.get(customer_id) for customer_id in customer_ids]
            unique = sorted({root.id for root in roots})
            savepoint = await self.session.begin_nested()
            locked = {p.id: p for p in await self.customers.lock_live(unique)}
            if len(locked) == len(unique) and all(p.is_live for p in locked.values()):
                await savepoint.commit()
                return [locked[root.id] for root in roots]
            await savepoint.rollback()
        raise Conflict("Concurrent requests kept merging these customers; retry the request.",
                       code="concurrent_change")

    async def _merge(self, winner: Customer, loser: Customer) -> None:
        await self.identities.move(loser.id, winner.id)
        await self.consents.merge(winner.id, loser.id)
        merged = trait_rules.merge(
            trait_rules.TraitState(dict(winner.traits), dict(winner.trait_updated_at)),
            trait_rules.TraitState(dict(loser.traits), dict(loser.trait_updated_at)))
        winner.traits, winner.trait_updated_at = merged.traits, merged.stamps
        winner.timezone = winner.timezone or loser.timezone
        winner.locale = winner.locale or loser.locale
        winner.updated_at = utcnow()
        # The loser becomes an alias: no data of its own, one hop to the live winner.
        loser.merged_into_id, loser.merged_at = winner.id, utcnow()
        loser.traits, loser.trait_updated_at, loser.timezone, loser.locale = {}, {}, None, None
        await self.customers.flush()
        await self.customers.repoint_merged(loser.id, winner.id)
        self.event("customer.merged", {"winner_id": str(winner.id), "loser_id": str(loser.id)})

    async def _refuse_conflicting_merge(self, profiles: Sequence[Customer],
                                        wanted: list[Identity]) -> None:
        rows = await self.identities.of_kind([p.id for p in profiles],
                                             IdentityKind.EXTERNAL_ID.value)
        existing = [Identity(IdentityKind.EXTERNAL_ID, "", r.value) for r in rows]
        refuse_two_external_ids(wanted, existing, sorted(p.id for p in profiles))

    async def _refuse_suppressed(self, wanted: list[Identity]) -> None:
        await self.privacy().refuse_suppressed(wanted)

    # Data-subject requests and data keys (customers/privacy.py) ------------------------

    def privacy(self) -> PrivacyService:
        from cxprism.customers.privacy import PrivacyService

        return PrivacyService(self)

    async def export(self, customer_id: uuid.UUID) -> dict[str, Any]:
        return await self.privacy().export(customer_id)

    async def erase(self, customer_id: uuid.UUID, suppress: bool = False) -> DataSubjectRequest:
        return await self.privacy().erase(customer_id, suppress)

    async def encrypt_for(self, customer_id: uuid.UUID, plaintext: bytes) -> bytes:
        return await self.privacy().encrypt_for(customer_id, plaintext)

    async def decrypt_for(self, ciphertext: bytes) -> bytes:
        return await self.privacy().decrypt_for(ciphertext)

    # Consent ---------------------------------------------------------------------------

    async def set_consent(self, customer_id: uuid.UUID, decision: Decision) -> Consent | None:
        [customer] = await self.lock_live_roots([customer_id])  # one consent writer each
        current = await self.consents.record(customer.id, decision)
        if current is not None:
            self.event("consent.changed", {
                "customer_id": str(customer.id), "channel": current.channel,
                "purpose": current.purpose, "status": current.status, "source": current.source})
        return current

    async def consent_states(self, customer_ids: Sequence[uuid.UUID]
                             ) -> dict[tuple[uuid.UUID, str, str], str]:
        """(customer, channel, purpose) -> current status, for many customers at once."""
        rows = await self.consents.repo.current_of(customer_ids)
        return {(c.customer_id, c.channel, c.purpose): c.status for c in rows}

    async def list_consent(self, customer_id: uuid.UUID, history: bool = False
                           ) -> tuple[Sequence[Consent], Sequence[ConsentEvent] | None]:
        customer = await self.get(customer_id)
        current = await self.consents.current(customer.id)
        return current, (await self.consents.history(customer.id) if history else None)


async def _pause_before_retry(attempt: int) -> None:
    """Exponential backoff with full jitter, so the losers of one race do not collide again."""
    ceiling = RETRY_PAUSE_SECONDS * 2 ** min(attempt, 5)
    await asyncio.sleep(random.uniform(0, ceiling))  # noqa: S311 - timing jitter, not security


def _normalised(kind: IdentityKind | str, value: str, namespace: str,
                region: str | None = None) -> Identity:
    try:
        return normalise(kind, value, namespace, region)
    except InvalidIdentity as exc:
        raise Unprocessable(str(exc), details={"field": "value"}) from exc


def _search_value(query: SearchQuery) -> tuple[str, str | None]:
    assert query.identity_kind is not None and query.identity_value is not None
    if not query.prefix:
        identity = _normalised(query.identity_kind, query.identity_value, query.namespace or "")
        return identity.value, identity.namespace
    value = query.identity_value.strip()
    if query.identity_kind in (IdentityKind.EMAIL, IdentityKind.SOCIAL):
        value = value.lower().removeprefix("@")
    if not value:
        raise Unprocessable("A prefix search needs at least one character.",
                            details={"field": "identity_value"})
    namespace = query.namespace.strip().lower() if query.namespace else None
    return value, namespace
