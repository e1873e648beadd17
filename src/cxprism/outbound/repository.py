"""Every query of the outbound pipeline."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select, update

from cxprism.kit.db import for_update, insert_ignore
from cxprism.kit.repository import WorkspaceRepository
from cxprism.outbound.models import Budget, BudgetUsage, Policy, Send, Template

# States that count against frequency caps: everything that is leaving or has left.
COUNTED = ("queued", "sending", "sent", "delivered", "read", "unknown", "bounced")


class SendRepository(WorkspaceRepository[Send]):
    model = Send

    async def by_key(self, idempotency_key: str) -> Send | None:
        return await self.one_or_none(Send.idempotency_key == idempotency_key)

    async def by_keys(self, keys: Sequence[str]) -> dict[str, Send]:
        stmt = self.select().where(Send.idempotency_key.in_(list(set(keys))))
        return {s.idempotency_key: s for s in (await self.session.execute(stmt)).scalars()}

    async def many(self, ids: Sequence[uuid.UUID]) -> list[Send]:
        """The sends, locked for this transaction (row locks on PostgreSQL)."""
        stmt = for_update(self.dialect, self.select().where(Send.id.in_(ids)))
        return list((await self.session.execute(stmt)).scalars())

    async def counts_since(self, customer_ids: Sequence[uuid.UUID], since: datetime,
                           purpose: str | None, medium: str | None) -> dict[uuid.UUID, int]:
        """Per customer, their sends since ``since`` that count against frequency caps."""
        if not customer_ids:
            return {}
        conditions: list[ColumnElement[bool]] = [
            Send.workspace_id == self.workspace_id, Send.customer_id.in_(list(customer_ids)),
            Send.created_at >= since, Send.status.in_(COUNTED)]
        if purpose is not None:
            conditions.append(Send.purpose == purpose)
        if medium is not None:
            conditions.append(Send.medium == medium)
        rows = await self.session.execute(
            select(Send.customer_id, func.count()).where(*conditions)
            .group_by(Send.customer_id))
        return {customer: int(n) for customer, n in rows.all()}

    async def engagement(self, customer_id: uuid.UUID, since: datetime
                         ) -> list[tuple[str, str, bool, int]]:
        """(medium, status, replied?, count) of the customer's sends since ``since``."""
        replied = Send.replied_at.is_not(None)
        rows = await self.session.execute(
            select(Send.medium, Send.status, replied, func.count())
            .where(Send.workspace_id == self.workspace_id, Send.customer_id == customer_id,
                   Send.created_at >= since, Send.medium.is_not(None))
            .group_by(Send.medium, Send.status, replied))
        return [(str(m), str(s), bool(r), int(n)) for m, s, r, n in rows.all()]

    async def latest_sent_to(self, customer_id: uuid.UUID, medium: str,
                             since: datetime) -> Send | None:
        stmt = (self.select().where(Send.customer_id == customer_id, Send.medium == medium,
                                    Send.sent_at >= since, Send.replied_at.is_(None))
                .order_by(Send.sent_at.desc()).limit(1))
        found: Send | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def by_external_id(self, channel_id: uuid.UUID, external_id: str) -> Send | None:
        return await self.one_or_none(Send.channel_id == channel_id,
                                      Send.external_id == external_id)

    async def newest(self, *conditions: ColumnElement[bool], limit: int) -> list[Send]:
        stmt = (self.select().where(*conditions)
                .order_by(Send.created_at.desc(), Send.id.desc()).limit(limit))
        return list((await self.session.execute(stmt)).scalars())

    async def paused(self) -> list[Send]:
        stmt = self.select().where(Send.status == "deferred", Send.reason == "marketing_paused")
        return list((await self.session.execute(stmt)).scalars())

    async def of_customer(self, customer_ids: Sequence[uuid.UUID]) -> list[Send]:
        stmt = self.select().where(Send.customer_id.in_(customer_ids)).order_by(Send.created_at)
        return list((await self.session.execute(stmt)).scalars())

    async def delete_of(self, customer_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(delete(Send).where(Send.workspace_id == self.workspace_id,
                                                      Send.customer_id.in_(customer_ids)))

    async def reassign(self, loser_id: uuid.UUID, winner_id: uuid.UUID) -> None:
        await self.session.execute(
            update(Send).where(Send.workspace_id == self.workspace_id,
                               Send.customer_id == loser_id)
            .values(customer_id=winner_id).execution_options(synchronize_session=False))


async def stale_sending(session: Any, before: datetime, limit: int) -> list[Send]:
    """Sends of any workspace left ``sending`` since before ``before`` (maintenance)."""
    stmt = for_update(session.get_bind().dialect.name, select(Send).where(
        Send.status == "sending", Send.updated_at < before).limit(limit))
    return list((await session.execute(stmt)).scalars())


class TemplateRepository(WorkspaceRepository[Template]):
    model = Template

    async def versions(self, name: str, medium: str, locale: str) -> list[Template]:
        stmt = (self.select().where(Template.name == name, Template.medium == medium,
                                    Template.locale == locale)
                .order_by(Template.version.desc()))
        return list((await self.session.execute(stmt)).scalars())

    async def latest_version(self, name: str, medium: str, locale: str) -> int:
        found: int | None = (await self.session.execute(
            select(func.max(Template.version)).where(
                Template.workspace_id == self.workspace_id, Template.name == name,
                Template.medium == medium, Template.locale == locale))).scalar_one()
        return found or 0

    async def locales(self, name: str, medium: str) -> list[str]:
        rows = await self.session.execute(
            select(Template.locale).distinct().where(
                Template.workspace_id == self.workspace_id, Template.name == name,
                Template.medium == medium))
        return [str(locale) for locale in rows.scalars()]

    async def mediums(self, name: str) -> set[str]:
        rows = await self.session.execute(
            select(Template.medium).distinct().where(
                Template.workspace_id == self.workspace_id, Template.name == name))
        return {str(medium) for medium in rows.scalars()}

    async def listing(self, name: str | None) -> list[Template]:
        stmt = self.select().order_by(Template.name, Template.medium, Template.locale,
                                      Template.version.desc())
        if name is not None:
            stmt = stmt.where(Template.name == name)
        return list((await self.session.execute(stmt)).scalars())


class PolicyRepository:
    def __init__(self, session: Any, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id

    @property
    def dialect(self) -> str:
        name: str = self.session.get_bind().dialect.name
        return name

    async def policy(self) -> Policy | None:
        found: Policy | None = await self.session.get(Policy, self.workspace_id)
        return found

    async def budgets(self) -> list[Budget]:
        rows = await self.session.execute(
            select(Budget).where(Budget.workspace_id == self.workspace_id)
            .order_by(Budget.medium))
        return list(rows.scalars())

    async def budget(self, medium: str) -> Budget | None:
        found: Budget | None = await self.session.get(Budget, (self.workspace_id, medium))
        return found

    async def used(self, medium: str, day: str) -> int:
        found: int | None = (await self.session.execute(
            select(BudgetUsage.used).where(
                BudgetUsage.workspace_id == self.workspace_id, BudgetUsage.medium == medium,
                BudgetUsage.day == day))).scalar_one_or_none()
        return found or 0

    async def locked_usage(self, medium: str, day: str) -> BudgetUsage:
        """Today's counter, created if need be and locked until the transaction ends, so
        two workers cannot both spend the last of a budget."""
        await self.session.execute(insert_ignore(
            self.dialect, BudgetUsage,
            {"workspace_id": self.workspace_id, "medium": medium, "day": day, "used": 0},
            ["workspace_id", "medium", "day"]))
        stmt = for_update(self.dialect, select(BudgetUsage).where(
            BudgetUsage.workspace_id == self.workspace_id, BudgetUsage.medium == medium,
            BudgetUsage.day == day))
        usage: BudgetUsage = (await self.session.execute(stmt)).scalar_one()
        return usage
