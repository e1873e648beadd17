"""Consumers of the event store: the catalogue, identity resolution and group membership.

Each ingestion commit records one ``tracking.events_appended`` domain event naming the
range of ``seq`` it stored (none when every message was a duplicate or suppressed) and
its per-source counters; the relay delivers those in commit order per workspace, and the
consumers read that range back from the store (no second write per event).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.consumers import registry
from cxprism.bus.events import DomainEvent
from cxprism.customers.identities import Identity
from cxprism.customers.service import CustomerService
from cxprism.kit.errors import AppError
from cxprism.tracking.ingest import APPENDED
from cxprism.tracking.linking import Fact, anonymous, external, facts_of
from cxprism.tracking.repository import StatCounts
from cxprism.tracking.service import TrackingService

log = logging.getLogger("cxprism.tracking")
OWNER_LOOKUP_CHUNK = 200


def _stored_range(event: DomainEvent) -> tuple[int, int] | None:
    first, last = event.payload.get("first_seq"), event.payload.get("last_seq")
    return None if first is None or last is None else (int(first), int(last))


@registry.register_batch("tracking.source_stats", APPENDED)
async def add_source_stats(session: AsyncSession, events: Sequence[DomainEvent]) -> None:
    """Per-source counters of a relayed batch of one workspace's commits: one upsert per
    source, in the consumer's transaction with its receipts (so added exactly once)."""
    totals: dict[uuid.UUID, StatCounts] = {}
    last_at: dict[uuid.UUID, datetime] = {}
    for event in events:
        if "sources" not in event.payload:
            continue  # recorded before counters rode on the event: counted when stored
        at = datetime.fromisoformat(event.payload["received_at"])
        for source, counts in event.payload["sources"].items():
            source_id = uuid.UUID(source)
            totals.setdefault(source_id, StatCounts()).add(StatCounts(**counts))
            last_at[source_id] = max(at, last_at.get(source_id, at))
    await TrackingService(session, events[0].workspace_id).add_source_stats(totals, last_at)


@registry.register("tracking.catalogue", APPENDED)
async def count_event_names(session: AsyncSession, event: DomainEvent) -> None:
    """The event catalogue, off the ingestion path: one grouped read and one upsert."""
    stored = _stored_range(event)
    if stored is not None:
        await TrackingService(session, event.workspace_id).count_names(*stored)


@registry.register("tracking.identities", APPENDED)
async def resolve_identities(session: AsyncSession, event: DomainEvent) -> None:
    stored = _stored_range(event)
    if stored is None:
        return
    first, last = stored
    workspace_id = event.workspace_id
    tracking = TrackingService(session, workspace_id)
    rows = await tracking.linking_rows(first, last)
    await tracking.record_group_calls(rows)
    customers = CustomerService(session, workspace_id)
    facts = await _with_aliases_resolved(customers, facts_of(rows))
    owners = await _owners(customers, {i for fact in facts for i in fact.identities})
    for fact in facts:
        if not fact.traits and _already_one_profile(fact, owners):
            continue
        try:
            await customers.identify(list(fact.identities), fact.traits or None)
        except AppError as exc:  # suppressed, or two external ids: keep the events, skip
            log.info("tracking: identities not linked in %s: %s", workspace_id, exc.message)


async def _with_aliases_resolved(customers: CustomerService, facts: list[Fact]) -> list[Fact]:
    """An alias's ``previousId`` is an earlier user id when a profile has it as one;
    otherwise it is the anonymous id the person was tracked under before."""
    previous = {external(f.previous_id) for f in facts if f.previous_id is not None}
    known = await _owners(customers, previous)
    return [fact if fact.previous_id is None else fact.with_previous_as(
                external(fact.previous_id) if external(fact.previous_id) in known
                else anonymous(fact.previous_id))
            for fact in facts]


async def _owners(customers: CustomerService,
                  identities: set[Identity]) -> dict[Identity, uuid.UUID]:
    ordered, owners = sorted(identities), {}
    for start in range(0, len(ordered), OWNER_LOOKUP_CHUNK):
        owners.update(await customers.owners(ordered[start:start + OWNER_LOOKUP_CHUNK]))
    return owners


def _already_one_profile(fact: Fact, owners: dict[Identity, uuid.UUID]) -> bool:
    found = {owners.get(i) for i in fact.identities}
    return len(found) == 1 and None not in found
