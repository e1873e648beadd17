"""Taking send requests in: many at once, with one query per kind of data.

For each request, in the caller's transaction: the send its cause already made (if any)
is returned; otherwise the target channel and recipient are resolved, the content is
rendered (a template error is the caller's 422, never a blank in a sent message), the
rules are evaluated and the send is stored as queued, deferred or suppressed, with a
delivery job for now or for when the rules allow. A request that fails is reported with
its error; the others go ahead.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.protocol import Address
from cxprism.channels.service import ChannelService
from cxprism.customers.bulk import BulkReads
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import ensure_utc, utcnow
from cxprism.kit.errors import AppError, NotFound, Unprocessable
from cxprism.kit.ids import uuid7
from cxprism.outbound import schemas, states
from cxprism.outbound.models import Send, Template
from cxprism.outbound.policies import Cap, Decision, Defer, Facts, SendNow, Suppress, evaluate
from cxprism.outbound.rendering import Rendered, TemplateParts
from cxprism.outbound.repository import PolicyRepository, SendRepository
from cxprism.outbound.rules import Rules, rules_from, zone
from cxprism.outbound.targets import Customer, Target, Targets
from cxprism.outbound.templates import (
    TemplateService,
    locale_chain,
    parts_of,
    render_context,
    render_or_422,
)
from cxprism.scheduler.service import enqueue_many

DELIVER_JOB = "outbound.deliver"
# A delivery job's attempts also count runs cut short by a crash (each claim counts), so
# the job gets plenty; the provider itself is tried at most SEND_ATTEMPTS times.
DELIVER_ATTEMPTS = 50
SEND_ATTEMPTS = 8


def idempotency_key(cause: str) -> str:
    return hashlib.sha256(cause.encode()).hexdigest()


def delivery_job(send: Send, run_at: datetime | None) -> tuple[dict[str, Any],
                                                               datetime | None, str]:
    """One job per wake-up of a send (its history length keeps the keys apart)."""
    return {"send_id": str(send.id)}, run_at, f"send:{send.id}:{len(send.history)}"


@dataclass(frozen=True)
class Taken:
    send: Send | None
    created: bool
    error: AppError | None = None


@dataclass
class _Batch:
    """What the requests share, read once."""

    now: datetime
    rules: Rules
    profiles: dict[uuid.UUID, Any]
    identities: dict[uuid.UUID, list[Any]]
    consents: dict[tuple[uuid.UUID, str, str], str]
    cap_usage: dict[tuple[Cap, uuid.UUID], int]
    budget_left: dict[str, int | None]


class Intake:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor: str | None) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.actor = actor
        self.sends = SendRepository(session, workspace_id)
        self.templates = TemplateService(session, workspace_id, actor)
        self.targets = Targets(ChannelService(session, workspace_id), self.sends)
        self._resolved: dict[tuple[str, str, tuple[str, ...], int | None], Template | None] = {}

    async def take(self, requests: list[schemas.SendCreate]) -> list[Taken]:
        keys = [idempotency_key(r.cause) for r in requests]
        existing = await self.sends.by_keys(keys)
        batch = await self._shared([r for r, k in zip(requests, keys, strict=True)
                                    if k not in existing])
        taken: list[Taken] = []
        jobs: list[tuple[dict[str, Any], datetime | None, str]] = []
        for request, key in zip(requests, keys, strict=True):
            if key in existing:
                taken.append(Taken(existing[key], False))
                continue
            try:
                send, run_at = await self._one(request, key, batch)
            except AppError as exc:
                taken.append(Taken(None, False, exc))
                continue
            existing[key] = send  # the same cause twice in one batch: one send
            taken.append(Taken(send, True))
            if not isinstance(run_at, bool):
                jobs.append(delivery_job(send, run_at))
        await self.sends.flush()
        await enqueue_many(self.session, DELIVER_JOB, jobs, max_attempts=DELIVER_ATTEMPTS,
                           workspace_id=self.workspace_id)
        return taken

    async def _shared(self, requests: list[schemas.SendCreate]) -> _Batch:
        now = utcnow()
        for index, request in enumerate(requests):  # unknown ids refuse the whole batch
            if request.channel_id is not None:
                try:
                    await self.targets.exact(request.channel_id, [])
                except NotFound as exc:
                    raise NotFound(exc.message, details={
                        "index": index, "channel_id": str(request.channel_id)}) from None
                except AppError:
                    pass  # a disabled channel fails only its own item
        policies = PolicyRepository(self.session, self.workspace_id)
        rules = rules_from(await policies.policy())
        bulk = BulkReads(self.session, self.workspace_id)
        profiles = await bulk.profiles([r.customer_id for r in requests])
        for index, request in enumerate(requests):
            # An id this workspace never had is the caller's bug (or a probe of another
            # tenant's ids): the whole request is refused. An erased profile (410) is a
            # normal event in a campaign and fails only its own item.
            if isinstance(profiles[request.customer_id], NotFound):
                raise NotFound("Customer not found.", details={
                    "index": index, "customer_id": str(request.customer_id)})
        live = [p.id for p in profiles.values() if not isinstance(p, AppError)]
        usage: dict[tuple[Cap, uuid.UUID], int] = {}
        for cap in rules.caps:
            counts = await self.sends.counts_since(live, now - cap.window, cap.purpose,
                                                   cap.medium)
            usage.update({(cap, customer): n for customer, n in counts.items()})
        day = rules.today(now).isoformat()
        budget_left: dict[str, int | None] = {}
        for budget in await policies.budgets():
            budget_left[budget.medium] = budget.daily_limit - await policies.used(
                budget.medium, day)
        return _Batch(now, rules, profiles, await bulk.identities_of(live),
                      await CustomerService(self.session, self.workspace_id)
                      .consent_states(live), usage, budget_left)

    async def _one(self, request: schemas.SendCreate, key: str, batch: _Batch
                   ) -> tuple[Send, datetime | bool | None]:
        """The new send, and when its delivery job runs (None: now; False: no job)."""
        if request.template is None and request.content is None:
            raise Unprocessable("Name a template or give content.",
                                details={"field": "template"})
        customer = batch.profiles[request.customer_id]
        if isinstance(customer, AppError):
            raise customer
        identities = batch.identities.get(customer.id, [])
        target = await self._target(request, customer, identities, batch)
        locales = locale_chain(request.locale or customer.locale, batch.rules.default_locale)
        content = await self._render(request, customer, identities, target, locales)
        send = self._new_send(request, key, customer, target, content, now=batch.now)
        decision = self._decide(send, target, batch)
        return send, self._apply(send, decision, batch.now)

    async def _target(self, request: schemas.SendCreate, customer: Customer,
                      identities: list[Any], batch: _Batch) -> Target:
        addresses = [Address(kind=i.kind, value=i.value, namespace=i.namespace)
                     for i in identities]
        if request.channel_id is not None:
            return await self.targets.exact(request.channel_id, addresses)
        if request.channel != "best":
            return await self.targets.for_medium(request.channel, addresses)
        mediums = await self.templates.mediums(request.template) if request.template else None
        purpose = request.purpose.value
        consents = {medium: status for (who, medium, p), status in batch.consents.items()
                    if who == customer.id and p == purpose}
        return await self.targets.best(customer.id, addresses, consents=consents,
                                       purpose=purpose, order=batch.rules.channel_order,
                                       template_mediums=mediums, now=batch.now)

    async def _render(self, request: schemas.SendCreate, customer: Customer,
                      identities: list[Any], target: Target, locales: list[str]
                      ) -> tuple[Template | None, Rendered | None]:
        if target.medium is None:
            return None, None  # nowhere to send: suppressed, nothing to render
        template = None
        if request.template is not None:
            template = await self._template(request, target.medium, locales)
            parts = parts_of(template)
        else:
            assert request.content is not None
            parts = TemplateParts(request.content.subject, request.content.text,
                                  request.content.html)
        context = render_context(customer, identities, request.event, request.conversation,
                                 request.data)
        return template, render_or_422(parts, context)

    async def _template(self, request: schemas.SendCreate, medium: str,
                        locales: list[str]) -> Template:
        assert request.template is not None
        key = (request.template, medium, tuple(locales), request.template_version)
        if key not in self._resolved:
            self._resolved[key] = await self.templates.resolve(
                request.template, medium, locales, request.template_version)
        template = self._resolved[key]
        if template is None:
            version = f" at version {request.template_version}" if request.template_version else ""
            raise Unprocessable(
                f"No {medium} template named {request.template!r} for locales "
                f"{', '.join(locales)}{version}.", code="template_not_found",
                details={"field": "template"})
        return template

    def _new_send(self, request: schemas.SendCreate, key: str, customer: Customer,
                  target: Target, content: tuple[Template | None, Rendered | None], *,
                  now: datetime) -> Send:
        template, rendered = content
        provider = None
        if template is not None and template.provider_template and rendered is not None:
            provider = {"name": template.provider_template["name"],
                        "language": template.provider_template["language"],
                        "parameters": rendered.provider_parameters}
        return self.sends.add(Send(
            id=uuid7(), customer_id=customer.id, idempotency_key=key,
            cause=request.cause, purpose=request.purpose.value, medium=target.medium,
            channel_id=target.channel.channel.id if target.channel else None,
            choice_reason=target.choice_reason, recipient=target.recipient,
            timezone=customer.timezone, template_id=template.id if template else None,
            template_version=template.version if template else None,
            locale=template.locale if template else None,
            subject=rendered.subject if rendered else None,
            text=rendered.text if rendered else "", html=rendered.html if rendered else None,
            provider_template=provider, status="new", history=[], attempts=0,
            not_before=ensure_utc(request.not_before) if request.not_before else None,
            expires_at=ensure_utc(request.expires_at) if request.expires_at else None,
            requested_by=self.actor, created_at=now, updated_at=now))

    def _decide(self, send: Send, target: Target, batch: _Batch) -> Decision:
        if target.channel is None or send.medium is None:
            return Suppress("no_channel", target.choice_reason or "no channel can be used")
        caps = [c for c in batch.rules.caps if c.applies(send.purpose, send.medium)]
        decision = evaluate(Facts(
            purpose=send.purpose, medium=send.medium, now=batch.now,
            timezone=zone(send.timezone, batch.rules.timezone),
            consent=batch.consents.get((send.customer_id, send.medium, send.purpose)),
            has_recipient=send.recipient is not None, expires_at=send.expires_at,
            marketing_paused=batch.rules.marketing_paused,
            quiet_hours=batch.rules.quiet_hours,
            cap_usage={c: batch.cap_usage.get((c, send.customer_id), 0) for c in caps},
            budget_left=batch.budget_left.get(send.medium)))
        if isinstance(decision, SendNow) and send.not_before and send.not_before > batch.now:
            decision = Defer("scheduled", send.not_before, "scheduled by the sender")
        if not isinstance(decision, Suppress):  # it counts against caps, in this batch too
            counted = Counter({(c, send.customer_id): 1 for c in caps})
            batch.cap_usage.update({k: batch.cap_usage.get(k, 0) + n
                                    for k, n in counted.items()})
        return decision

    def _apply(self, send: Send, decision: Decision, now: datetime) -> datetime | bool | None:
        if isinstance(decision, Suppress):
            states.move(self.session, send, "suppressed", now, reason=decision.reason,
                        detail=decision.detail)
            return False
        if isinstance(decision, Defer):
            states.move(self.session, send, "deferred", now, reason=decision.reason,
                        detail=decision.detail)
            return decision.until if decision.until is not None else False
        states.move(self.session, send, "queued", now)
        return None
