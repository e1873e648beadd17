"""Consent rules: an append-only history, and a current state that only a newer decision moves."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cxprism.customers.models import Consent, ConsentEvent
from cxprism.customers.repository import ConsentRepository
from cxprism.customers.schemas import Channel, ConsentStatus, Purpose
from cxprism.kit.clock import ensure_utc, utcnow
from cxprism.kit.errors import Unprocessable

# Callers' clocks drift; a decision "a few seconds from now" is still plausible.
CLOCK_SKEW = timedelta(seconds=60)


@dataclass(frozen=True)
class Decision:
    channel: Channel
    purpose: Purpose
    status: ConsentStatus
    source: str
    occurred_at: datetime | None = None


class ConsentBook:
    def __init__(self, repo: ConsentRepository) -> None:
        self.repo = repo

    async def record(self, customer_id: uuid.UUID, decision: Decision) -> Consent | None:
        """Append the decision to the history; returns the current row if it changed.

        An imported decision older than the current one is history only: the customer's
        latest word stands, whatever order the records arrive in.
        """
        now = utcnow()
        occurred = ensure_utc(decision.occurred_at) if decision.occurred_at else now
        if occurred > now + CLOCK_SKEW:
            raise Unprocessable("occurred_at is in the future; give the time the person decided.",
                                details={"field": "occurred_at"})
        self.repo.add_event(ConsentEvent(
            customer_id=customer_id, channel=decision.channel.value,
            purpose=decision.purpose.value, status=decision.status.value,
            source=decision.source, occurred_at=occurred, recorded_at=now))
        current = await self.repo.one(customer_id, decision.channel.value, decision.purpose.value)
        if current is not None and occurred < current.occurred_at:
            await self.repo.flush()
            return None
        if current is None:
            current = self.repo.add(Consent(
                customer_id=customer_id, channel=decision.channel.value,
                purpose=decision.purpose.value, status=decision.status.value,
                source=decision.source, occurred_at=occurred))
        else:
            current.status, current.source = decision.status.value, decision.source
            current.occurred_at = occurred
        await self.repo.flush()
        return current

    async def merge(self, winner_id: uuid.UUID, loser_id: uuid.UUID) -> None:
        """History moves; per channel and purpose the most recent decision becomes current."""
        kept = {(c.channel, c.purpose): c for c in await self.repo.current(winner_id)}
        moving = await self.repo.current(loser_id)
        for consent in moving:
            mine = kept.get((consent.channel, consent.purpose))
            if mine is not None and consent.occurred_at > mine.occurred_at:
                mine.status, mine.source = consent.status, consent.source
                mine.occurred_at = consent.occurred_at
        await self.repo.flush()
        await self.repo.delete_current([loser_id])
        for consent in moving:
            if (consent.channel, consent.purpose) not in kept:
                self.repo.add(Consent(
                    customer_id=winner_id, channel=consent.channel, purpose=consent.purpose,
                    status=consent.status, source=consent.source,
                    occurred_at=consent.occurred_at))
        await self.repo.move_history(loser_id, winner_id)
        await self.repo.flush()

    async def current(self, customer_id: uuid.UUID) -> Sequence[Consent]:
        return await self.repo.current(customer_id)

    async def history(self, customer_id: uuid.UUID) -> Sequence[ConsentEvent]:
        return await self.repo.history(customer_id)
