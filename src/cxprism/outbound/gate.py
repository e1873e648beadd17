"""The pipeline's rules for agents' replies in the inbox.

A reply answers a customer who wrote: it is transactional, so quiet hours, frequency caps
and the marketing kill switch do not hold it. Two rules still apply: a customer who
withdrew even transactional consent on a medium gets nothing there, and every send spends
the medium's daily budget (paid SMS and WhatsApp are money).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.service import OpenChannel
from cxprism.customers.service import CustomerService
from cxprism.outbound.mediums import medium_of
from cxprism.outbound.policies import TRANSACTIONAL, WITHDRAWN, Suppress
from cxprism.outbound.repository import PolicyRepository
from cxprism.outbound.rules import rules_from


async def admit_reply(session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID,
                      channel: OpenChannel, now: datetime) -> Suppress | None:
    """None when the reply may go (its budget is then spent), else why not."""
    medium = medium_of(channel.channel.kind)
    consents = await CustomerService(session, workspace_id).consent_states([customer_id])
    if consents.get((customer_id, medium, TRANSACTIONAL)) == WITHDRAWN:
        return Suppress("consent_withdrawn",
                        f"the customer withdrew consent for transactional {medium} messages")
    policies = PolicyRepository(session, workspace_id)
    budget = await policies.budget(medium)
    if budget is None:
        return None
    day = rules_from(await policies.policy()).today(now).isoformat()
    usage = await policies.locked_usage(medium, day)
    if usage.used >= budget.daily_limit:
        return Suppress("budget_exceeded", f"the workspace's daily {medium} budget of "
                        f"{budget.daily_limit} is used up for {day}")
    usage.used += 1
    return None
