"""Delivering sends: a batch of delivery jobs in two short transactions around the I/O.

1. Hold the jobs; for each send, apply the rules again (consent may have been withdrawn,
   the kill switch pulled, quiet hours begun), reserve the daily budget, and mark the
   ones that go ``sending``. Commit: from here on a crash is visible.
2. Send concurrently through the channels' connectors, within per-channel rate limits.
3. Record each outcome and settle its job in one transaction: ``sent``; transient
   failures back to ``queued`` for a retry with backoff (or the provider's Retry-After);
   permanent ones ``failed``; a lost answer ``unknown``.

A send found ``sending`` at step 1 was in flight when a worker died. It is never sent
blindly again: a connector that can look the message up at the provider reconciles it;
otherwise it is marked ``unknown`` for a person to decide.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.protocol import (
    ANSWER_LOST,
    OutboundMessage,
    SendError,
    SendResult,
    TemplateRef,
)
from cxprism.channels.service import ChannelService, OpenChannel
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import utcnow
from cxprism.outbound import states
from cxprism.outbound.intake import SEND_ATTEMPTS
from cxprism.outbound.models import Send
from cxprism.outbound.policies import Defer, Facts, SendNow, Suppress, evaluate
from cxprism.outbound.repository import PolicyRepository, SendRepository
from cxprism.outbound.rules import Rules, zone
from cxprism.outbound.service import enqueue_delivery, load_rules
from cxprism.outbound.throttle import Throttle
from cxprism.scheduler.batches import DONE, BatchJob, JobBatch, Outcome, Retry

CONCURRENCY = 64
DONE_STATES = frozenset({"sent", "delivered", "read", "failed", "bounced", "suppressed",
                         "cancelled", "unknown"})


@dataclass
class Planned:
    job: BatchJob
    send_id: uuid.UUID
    workspace_id: uuid.UUID
    channel: OpenChannel
    message: OutboundMessage
    rate: float | None = None  # the channel's sends per second, if limited
    reconcile_since: datetime | None = None  # set: look it up before sending again


@dataclass(frozen=True)
class Result:
    sent: SendResult | None = None
    error: SendError | None = None


async def deliver_batch(batch: JobBatch, clients: list[httpx.AsyncClient],
                        throttle: Throttle) -> None:
    plans, outcomes = await _prepare(batch)
    semaphore = asyncio.Semaphore(CONCURRENCY)
    results = await asyncio.gather(*(
        _perform(plan, clients[i % len(clients)], throttle, semaphore)
        for i, plan in enumerate(plans)))
    await _record(batch, list(zip(plans, results, strict=True)), outcomes)


# --- 1. prepare ------------------------------------------------------------------------

async def _prepare(batch: JobBatch) -> tuple[list[Planned], dict[int, Outcome]]:
    plans: list[Planned] = []
    outcomes: dict[int, Outcome] = {}
    async with batch.db.session() as session:
        jobs = await batch.hold(session)
        by_workspace: dict[uuid.UUID, list[BatchJob]] = defaultdict(list)
        for job in jobs:
            if job.workspace_id is None:
                outcomes[job.id] = DONE
            else:
                by_workspace[job.workspace_id].append(job)
        for workspace_id, of_workspace in by_workspace.items():
            preparer = _Preparer(session, workspace_id)
            plans += await preparer.run(of_workspace, outcomes)
        await session.commit()
    return plans, outcomes


class _Preparer:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.sends = SendRepository(session, workspace_id)
        self.channels = ChannelService(session, workspace_id)
        self.opened: dict[uuid.UUID, OpenChannel] = {}
        self.rules = Rules()

    async def run(self, jobs: list[BatchJob], outcomes: dict[int, Outcome]) -> list[Planned]:
        now = utcnow()
        rules = self.rules = await load_rules(self.session, self.workspace_id)
        ids = {job.id: uuid.UUID(job.payload["send_id"]) for job in jobs}
        sends = {s.id: s for s in await self.sends.many(list(ids.values()))}
        consents = await CustomerService(self.session, self.workspace_id).consent_states(
            list({s.customer_id for s in sends.values()}))
        going: list[tuple[BatchJob, Send]] = []
        plans: list[Planned] = []
        for job in jobs:
            outcomes[job.id] = DONE
            send = sends.get(ids[job.id])
            if send is None or send.status in DONE_STATES:
                continue
            if send.status == "sending":
                plan = await self._after_crash(job, send, now)
                if plan is not None:
                    plans.append(plan)
                continue
            consent = consents.get((send.customer_id, send.medium or "", send.purpose))
            if await self._rules_allow(send, rules, consent, now):
                going.append((job, send))
        for job, send in await self._within_budget(going, rules, now):
            send.attempts += 1
            states.move(self.session, send, "sending", now)
            plans.append(await self._plan(job, send))
        return plans

    async def _rules_allow(self, send: Send, rules: Rules, consent: str | None,
                           now: datetime) -> bool:
        if send.channel_id is None or send.medium is None:
            states.move(self.session, send, "suppressed", now, reason="no_channel",
                        detail="no channel was chosen")
            return False
        decision = evaluate(Facts(
            purpose=send.purpose, medium=send.medium, now=now,
            timezone=zone(send.timezone, rules.timezone), consent=consent,
            has_recipient=send.recipient is not None, expires_at=send.expires_at,
            marketing_paused=rules.marketing_paused, quiet_hours=rules.quiet_hours))
        if isinstance(decision, Suppress):
            states.move(self.session, send, "suppressed", now, reason=decision.reason,
                        detail=decision.detail)
            return False
        if isinstance(decision, Defer):
            states.move(self.session, send, "deferred", now, reason=decision.reason,
                        detail=decision.detail)
            if decision.until is not None:
                await enqueue_delivery(self.session, send, decision.until)
            return False
        assert isinstance(decision, SendNow)
        if send.not_before is not None and send.not_before > now:  # woken early
            await enqueue_delivery(self.session, send, send.not_before)
            return False
        return True

    async def _within_budget(self, going: list[tuple[BatchJob, Send]], rules: Rules,
                             now: datetime) -> list[tuple[BatchJob, Send]]:
        """Spend the daily budgets; what does not fit is suppressed, saying so."""
        policies = PolicyRepository(self.session, self.workspace_id)
        by_medium: dict[str, list[tuple[BatchJob, Send]]] = defaultdict(list)
        for job, send in going:
            by_medium[send.medium or ""].append((job, send))
        allowed: list[tuple[BatchJob, Send]] = []
        day = rules.today(now).isoformat()
        for medium, pairs in by_medium.items():
            budget = await policies.budget(medium)
            if budget is None:
                allowed += pairs
                continue
            usage = await policies.locked_usage(medium, day)
            room = max(0, budget.daily_limit - usage.used)
            usage.used += min(room, len(pairs))
            allowed += pairs[:room]
            for _, send in pairs[room:]:
                states.move(self.session, send, "suppressed", now, reason="budget_exceeded",
                            detail=f"the workspace's daily {medium} budget of "
                                   f"{budget.daily_limit} is used up for {day}")
        return allowed

    async def _after_crash(self, job: BatchJob, send: Send, now: datetime) -> Planned | None:
        plan = await self._plan(job, send)
        if getattr(plan.channel.connector, "lookup", None) is not None:
            since = _last_sending_at(send) or now - timedelta(days=1)
            return replace(plan, reconcile_since=since)
        states.move(self.session, send, "unknown", now, reason="outcome_unknown",
                    detail="a worker stopped while sending and the provider offers no "
                           "lookup: not resent; check with the provider, then resend "
                           "or leave it")
        return None

    async def _plan(self, job: BatchJob, send: Send) -> Planned:
        assert send.channel_id is not None
        channel = self.opened.get(send.channel_id)
        if channel is None:
            channel = self.opened[send.channel_id] = await self.channels.open(send.channel_id)
        template = send.provider_template
        message = OutboundMessage(
            to=send.recipient or "", text=send.text, html=send.html, subject=send.subject,
            idempotency_key=str(send.id),
            template=TemplateRef(template["name"], template["language"],
                                 list(template["parameters"])) if template else None,
            metadata={"send_id": str(send.id), "channel_id": str(send.channel_id)})
        return Planned(job, send.id, send.workspace_id, channel, message,
                       rate=self.rules.rate_limits.get(channel.channel.kind))


def _last_sending_at(send: Send) -> datetime | None:
    for entry in reversed(send.history):
        if entry["status"] == "sending":
            return datetime.fromisoformat(entry["at"])
    return None


# --- 2. perform ------------------------------------------------------------------------

async def _perform(plan: Planned, http: httpx.AsyncClient, throttle: Throttle,
                   semaphore: asyncio.Semaphore) -> Result:
    connector, config = plan.channel.connector, plan.channel.config
    async with semaphore:
        if plan.reconcile_since is not None:
            found = await _look_up(plan, http)
            if found.sent is not None or found.error is not None:
                return found  # the provider has it, or cannot say: never sent again
        try:
            throttle.set_rate(plan.channel.channel.id, plan.rate)
            await throttle.wait(plan.channel.channel.id)
            return Result(sent=await connector.send(config, plan.message, http))
        except SendError as exc:
            return Result(error=exc)
        except Exception as exc:  # a connector bug: the request may have left
            return Result(error=SendError(f"{type(exc).__name__}: {exc}", transient=False,
                                          code=ANSWER_LOST))


async def _look_up(plan: Planned, http: httpx.AsyncClient) -> Result:
    """The provider's answer about a send caught in a crash: found (sent), surely not
    there (an empty result: send it now), or no answer (unknown, for review)."""
    lookup = getattr(plan.channel.connector, "lookup")  # noqa: B009 - optional capability
    try:
        found: SendResult | None = await lookup(plan.channel.config, plan.message,
                                                plan.reconcile_since, http)
    except Exception as exc:  # whatever went wrong, the outcome stays unknown
        return Result(error=SendError(f"lookup after a crash failed: {exc}", transient=False,
                                      code=ANSWER_LOST))
    return Result(sent=found)


# --- 3. record -------------------------------------------------------------------------

async def _record(batch: JobBatch, done: list[tuple[Planned, Result]],
                  outcomes: dict[int, Outcome]) -> None:
    now = utcnow()
    async with batch.db.session() as session:
        by_workspace: dict[uuid.UUID, list[tuple[Planned, Result]]] = defaultdict(list)
        for plan, result in done:
            by_workspace[plan.workspace_id].append((plan, result))
        for workspace_id, pairs in by_workspace.items():
            repo = SendRepository(session, workspace_id)
            sends = {s.id: s for s in await repo.many([p.send_id for p, _ in pairs])}
            for plan, result in pairs:
                send = sends.get(plan.send_id)
                if send is not None and send.status == "sending":
                    outcomes[plan.job.id] = _outcome(session, send, plan.job, result, now)
        await batch.settle(session, outcomes)
        await session.commit()


def _outcome(session: AsyncSession, send: Send, job: BatchJob, result: Result,
             now: datetime) -> Outcome:
    if result.sent is not None:
        send.external_id = result.sent.external_id[:255]
        send.sent_at = now
        found = result.sent.details.get("reconciled")
        states.move(session, send, result.sent.status.value, now,
                    detail="found at the provider after a crash" if found else None)
        return DONE
    error = result.error
    assert error is not None
    if error.code == ANSWER_LOST:
        states.move(session, send, "unknown", now, reason="outcome_unknown",
                    detail=f"not resent: {error}")
        return DONE
    if error.transient and send.attempts < SEND_ATTEMPTS and not job.last_attempt:
        states.move(session, send, "queued", now, reason="retrying", detail=str(error))
        at = now + timedelta(seconds=error.retry_after) if error.retry_after else None
        return Retry(str(error), at=at)
    states.move(session, send, "failed", now, reason=error.code or "provider_refused",
                detail=str(error))
    return DONE
