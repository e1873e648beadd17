"""The workspace's controls over sending: policy, the marketing kill switch, budgets."""

from __future__ import annotations

import uuid
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.customers.schemas import check_locale
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Unprocessable
from cxprism.outbound import schemas, states
from cxprism.outbound.models import Budget, Policy
from cxprism.outbound.repository import PolicyRepository, SendRepository
from cxprism.outbound.rules import rules_from
from cxprism.outbound.service import enqueue_delivery


class ControlService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor: str | None = None) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.actor = actor
        self.policies = PolicyRepository(session, workspace_id)

    async def policy(self) -> Policy:
        found = await self.policies.policy()
        if found is None:
            found = Policy(workspace_id=self.workspace_id, timezone="UTC", default_locale="en",
                           quiet_hours=None, caps=[], channel_order=[], rate_limits={},
                           marketing_paused=False)
            self.session.add(found)
            await self.session.flush()
        return found

    async def update(self, data: schemas.PolicyUpdate) -> Policy:
        policy = await self.policy()
        if data.timezone is not None:
            policy.timezone = _check_zone(data.timezone)
        if data.default_locale is not None:
            policy.default_locale = check_locale(data.default_locale)
        if data.clear_quiet_hours:
            policy.quiet_hours = None
        elif data.quiet_hours is not None:
            policy.quiet_hours = data.quiet_hours.model_dump(mode="json")
        if data.caps is not None:
            policy.caps = [c.model_dump(mode="json") for c in data.caps]
        if data.channel_order is not None:
            policy.channel_order = [c.value for c in data.channel_order]
        if data.rate_limits is not None:
            if any(v <= 0 for v in data.rate_limits.values()):
                raise Unprocessable("Rate limits must be positive sends per second.",
                                    details={"field": "rate_limits"})
            policy.rate_limits = dict(data.rate_limits)
        policy.updated_at = utcnow()
        rules_from(policy)  # fails loudly now rather than at the next send
        await self.session.flush()
        self._event("outbound.policy_changed", {})
        return policy

    async def pause_marketing(self, reason: str) -> Policy:
        """The kill switch: marketing sends wait (deferred, not dropped) until resumed."""
        policy = await self.policy()
        policy.marketing_paused, policy.paused_reason = True, reason
        policy.updated_at = utcnow()
        await self.session.flush()
        self._event("outbound.marketing_paused", {"reason": reason})
        return policy

    async def resume_marketing(self) -> tuple[Policy, int]:
        """Lift the kill switch; the sends it held go to delivery again (the rules are
        applied afresh there: a message that expired meanwhile is not sent)."""
        policy = await self.policy()
        policy.marketing_paused, policy.paused_reason = False, None
        policy.updated_at = utcnow()
        now = utcnow()
        held = await SendRepository(self.session, self.workspace_id).paused()
        for send in held:
            states.move(self.session, send, "queued", now, reason="resumed",
                        detail=f"marketing resumed by {self.actor}")
        await self.session.flush()
        for send in held:
            await enqueue_delivery(self.session, send, None)
        self._event("outbound.marketing_resumed", {"released": len(held)})
        return policy, len(held)

    async def set_budget(self, medium: str, daily_limit: int) -> Budget:
        budget = await self.policies.budget(medium)
        if budget is None:
            budget = Budget(workspace_id=self.workspace_id, medium=medium,
                            daily_limit=daily_limit)
            self.session.add(budget)
        budget.daily_limit = daily_limit
        budget.updated_at = utcnow()
        await self.session.flush()
        self._event("outbound.budget_changed", {"medium": medium, "daily_limit": daily_limit})
        return budget

    async def remove_budget(self, medium: str) -> None:
        budget = await self.policies.budget(medium)
        if budget is not None:
            await self.session.delete(budget)
            await self.session.flush()
            self._event("outbound.budget_changed", {"medium": medium, "daily_limit": None})

    async def budgets_used_today(self) -> list[tuple[Budget, str, int]]:
        """Each budget, the workspace-local day and what it has used that day."""
        day = rules_from(await self.policies.policy()).today(utcnow()).isoformat()
        return [(b, day, await self.policies.used(b.medium, day))
                for b in await self.policies.budgets()]

    def _event(self, type_: str, payload: dict[str, object]) -> None:
        events.record(self.session, self.workspace_id, type_, {**payload, "actor": self.actor})


def _check_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Unprocessable(f"{name!r} is not an IANA timezone (e.g. Europe/Lisbon).",
                            details={"field": "timezone"}) from None
    return name
