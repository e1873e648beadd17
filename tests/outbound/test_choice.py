"""Channel ``best``: the medium with consent and the best recent engagement, falling back
in the configured order, and the reason recorded on the send."""

from __future__ import annotations

import uuid

import httpx
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update

from cxprism.kit.db import Database
from cxprism.outbound.choice import Candidate, Engagement, choose
from cxprism.outbound.models import Send
from tests.fixtures.builders import Tenant
from tests.outbound.helpers import (
    RecordingConnector,
    RecordingSms,
    connect,
    consent,
    customer,
    installed,
    run_jobs,
    sent_ok,
)

MEDIUMS = ["email", "sms", "whatsapp"]


async def _two_channels(client: httpx.AsyncClient, tenant: Tenant) -> None:
    for cls in (RecordingConnector, RecordingSms):
        await connect(client, tenant, installed(cls).kind)


async def test_fallback_order_decides_when_engagement_ties(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    await _two_channels(client, tenant)
    ann = await customer(client, tenant, email="ann@example.com", phone="+14155550101")
    await client.patch("/api/v1/outbound/policy", headers=tenant.headers,
                       json={"channel_order": ["sms", "email"]})
    out = await sent_ok(client, tenant, ann, "receipt:1", channel="best")
    assert out["medium"] == "sms"
    assert out["choice_reason"].startswith("sms: engagement ties, first in the fallback order")


async def test_consent_and_addresses_rule_mediums_out(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    await _two_channels(client, tenant)
    bob = await customer(client, tenant, email="bob@example.com", phone="+14155550102")
    await consent(client, tenant, bob, "email", "marketing")  # sms: no marketing consent
    out = await sent_ok(client, tenant, bob, "promo:1", channel="best", purpose="marketing")
    assert out["medium"] == "email"
    assert "sms: the customer has not consented to marketing on sms" in out["choice_reason"]
    cy = await customer(client, tenant, email="cy@example.com")
    none = await sent_ok(client, tenant, cy, "promo:2", channel="best", purpose="marketing")
    assert (none["status"], none["reason"]) == ("suppressed", "no_channel")
    assert "sms: no address" in none["detail"]


async def test_recent_engagement_wins_over_the_fallback_order(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    await _two_channels(client, tenant)
    dee = await customer(client, tenant, email="dee@example.com", phone="+14155550103")
    await client.patch("/api/v1/outbound/policy", headers=tenant.headers,
                       json={"channel_order": ["sms", "email"]})
    earlier = await sent_ok(client, tenant, dee, "receipt:1", channel="email")
    await run_jobs(db)
    async with db.session() as session:  # she read that email
        await session.execute(update(Send).where(Send.id == uuid.UUID(earlier["id"]))
                              .values(status="read"))
        await session.commit()
    out = await sent_ok(client, tenant, dee, "receipt:2", channel="best")
    assert out["medium"] == "email"
    assert "best recent engagement (score 2: 0 replied, 1 read" in out["choice_reason"]


@given(st.lists(st.tuples(st.sampled_from(MEDIUMS), st.integers(0, 5), st.integers(0, 5),
                          st.booleans()), min_size=1, max_size=3, unique_by=lambda t: t[0]),
       st.permutations(MEDIUMS))
def test_the_choice_is_eligible_and_never_beaten(
        rows: list[tuple[str, int, int, bool]], order: list[str]) -> None:
    candidates = [Candidate(m, None if ok else "no consent", Engagement(read=r, replied=p))
                  for m, r, p, ok in rows]
    choice = choose(candidates, order)
    eligible = [c for c in candidates if c.problem is None]
    if not eligible:
        assert choice.medium is None
        return
    [chosen] = [c for c in eligible if c.medium == choice.medium]
    assert all(c.engagement.score <= chosen.engagement.score for c in eligible)
    ties = [c for c in eligible if c.engagement.score == chosen.engagement.score]
    assert chosen.medium == min(ties, key=lambda c: order.index(c.medium)).medium
