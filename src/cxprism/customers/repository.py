"""Every query of the customers domain, scoped to one workspace."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Exists, delete, exists, select, update

from cxprism.customers.identities import Identity
from cxprism.customers.models import (
    Consent,
    ConsentEvent,
    Customer,
    CustomerDataKey,
    CustomerIdentity,
    DataSubjectRequest,
    Suppression,
)
from cxprism.kit.db import for_update, one_of
from cxprism.kit.repository import WorkspaceRepository


def _escape_like(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class CustomerRepository(WorkspaceRepository[Customer]):
    """Reads refresh loaded rows (``populate_existing``): a profile read earlier in the
    transaction may have been merged or erased since, and resolution must see that."""

    model = Customer

    async def get(self, id_: uuid.UUID) -> Customer | None:
        stmt = self.select().where(Customer.id == id_).execution_options(populate_existing=True)
        found: Customer | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def many(self, ids: Iterable[uuid.UUID]) -> list[Customer]:
        stmt = self.select().where(Customer.id.in_(list(ids)))
        return list((await self.session.execute(stmt)).scalars())

    async def lock_live(self, ids: Iterable[uuid.UUID]) -> list[Customer]:
        """Lock profiles in id order (a fixed order: concurrent merges cannot deadlock)."""
        stmt = self.select().where(Customer.id.in_(sorted(set(ids)))).order_by(Customer.id)
        rows = (await self.session.execute(for_update(self.dialect, stmt))).scalars()
        return list(rows)

    async def merged_into(self, winner_id: uuid.UUID) -> Sequence[Customer]:
        stmt = self.select().where(Customer.merged_into_id == winner_id).order_by(Customer.id)
        rows: Sequence[Customer] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def repoint_merged(self, old_winner: uuid.UUID, new_winner: uuid.UUID) -> None:
        """Path compression: all that pointed at ``old_winner`` now points at the live one."""
        await self.session.execute(update(Customer).where(
            Customer.workspace_id == self.workspace_id, Customer.merged_into_id == old_winner,
        ).values(merged_into_id=new_winner).execution_options(synchronize_session="fetch"))

    async def search(self, conditions: list[ColumnElement[bool]], after: uuid.UUID | None,
                     limit: int) -> tuple[Sequence[Customer], uuid.UUID | None]:
        live = [Customer.merged_into_id.is_(None), Customer.erased_at.is_(None)]
        return await self.page(*live, *conditions, after=after, limit=limit)


def identity_match(kind: str, namespace: str | None, value: str,
                   prefix: bool) -> ColumnElement[bool]:
    """Customers owning an identity equal to (or starting with) ``value``."""
    value_test = (CustomerIdentity.value.like(_escape_like(value) + "%", escape="\\")
                  if prefix else CustomerIdentity.value == value)
    conditions = [CustomerIdentity.kind == kind, value_test]
    if namespace is not None:
        conditions.append(CustomerIdentity.namespace == namespace)
    owners = select(CustomerIdentity.customer_id).where(
        CustomerIdentity.workspace_id == Customer.workspace_id, *conditions)
    return Customer.id.in_(owners)


def trait_equals(key: str, value: str) -> ColumnElement[bool]:
    condition: ColumnElement[bool] = Customer.traits[key].as_string() == value
    return condition


def created_between(after: datetime | None, before: datetime | None) -> list[ColumnElement[bool]]:
    conditions = []
    if after is not None:
        conditions.append(Customer.created_at >= after)
    if before is not None:
        conditions.append(Customer.created_at < before)
    return conditions


class IdentityRepository(WorkspaceRepository[CustomerIdentity]):
    model = CustomerIdentity

    async def owned_by_any(self, identities: Iterable[Identity]) -> Sequence[CustomerIdentity]:
        wanted = {(i.kind.value, i.namespace, i.value) for i in identities}
        if not wanted:
            return []
        # One statement shape for any number (its plan and compiled form are reused, where
        # an OR of (kind, namespace, value) triples is a new statement per count); the rows
        # are then narrowed to the exact triples. Fresh: a retry after a lost race must
        # see the owner the winner committed.
        # All three key columns are constrained, so the unique index is searched for each
        # combination rather than scanned across a kind.
        stmt = self.select().where(
            one_of(self.dialect, CustomerIdentity.kind, sorted({w[0] for w in wanted})),
            one_of(self.dialect, CustomerIdentity.namespace, sorted({w[1] for w in wanted})),
            one_of(self.dialect, CustomerIdentity.value, sorted({w[2] for w in wanted})),
        ).execution_options(populate_existing=True)
        rows = (await self.session.execute(stmt)).scalars().all()
        return [row for row in rows if (row.kind, row.namespace, row.value) in wanted]

    async def of_customer(self, customer_id: uuid.UUID) -> Sequence[CustomerIdentity]:
        stmt = self.select().where(CustomerIdentity.customer_id == customer_id).order_by(
            CustomerIdentity.kind, CustomerIdentity.namespace, CustomerIdentity.value)
        rows: Sequence[CustomerIdentity] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def of_customers(self, customer_ids: Iterable[uuid.UUID]
                           ) -> Sequence[CustomerIdentity]:
        stmt = self.select().where(CustomerIdentity.customer_id.in_(list(customer_ids)))
        rows: Sequence[CustomerIdentity] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def of_kind(self, customer_ids: Iterable[uuid.UUID],
                      kind: str) -> Sequence[CustomerIdentity]:
        stmt = self.select().where(CustomerIdentity.customer_id.in_(list(customer_ids)),
                                   CustomerIdentity.kind == kind)
        rows: Sequence[CustomerIdentity] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def move(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        await self.session.execute(update(CustomerIdentity).where(
            CustomerIdentity.workspace_id == self.workspace_id,
            CustomerIdentity.customer_id == from_id,
        ).values(customer_id=to_id).execution_options(synchronize_session="fetch"))

    async def delete_of(self, customer_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(delete(CustomerIdentity).where(
            CustomerIdentity.workspace_id == self.workspace_id,
            CustomerIdentity.customer_id.in_(customer_ids),
        ).execution_options(synchronize_session="fetch"))


class ConsentRepository(WorkspaceRepository[Consent]):
    model = Consent

    async def current(self, customer_id: uuid.UUID) -> Sequence[Consent]:
        stmt = self.select().where(Consent.customer_id == customer_id).order_by(
            Consent.channel, Consent.purpose)
        rows: Sequence[Consent] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def current_of(self, customer_ids: Sequence[uuid.UUID]) -> Sequence[Consent]:
        stmt = self.select().where(Consent.customer_id.in_(customer_ids))
        rows: Sequence[Consent] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def one(self, customer_id: uuid.UUID, channel: str, purpose: str) -> Consent | None:
        return await self.one_or_none(Consent.customer_id == customer_id,
                                      Consent.channel == channel, Consent.purpose == purpose)

    async def history(self, customer_id: uuid.UUID) -> Sequence[ConsentEvent]:
        stmt = select(ConsentEvent).where(
            ConsentEvent.workspace_id == self.workspace_id,
            ConsentEvent.customer_id == customer_id,
        ).order_by(ConsentEvent.occurred_at, ConsentEvent.id)
        return (await self.session.execute(stmt)).scalars().all()

    def add_event(self, event: ConsentEvent) -> None:
        event.workspace_id = self.workspace_id
        self.session.add(event)

    async def move_history(self, from_id: uuid.UUID, to_id: uuid.UUID) -> None:
        await self.session.execute(update(ConsentEvent).where(
            ConsentEvent.workspace_id == self.workspace_id,
            ConsentEvent.customer_id == from_id,
        ).values(customer_id=to_id).execution_options(synchronize_session="fetch"))

    async def delete_current(self, customer_ids: Sequence[uuid.UUID]) -> None:
        await self.session.execute(delete(Consent).where(
            Consent.workspace_id == self.workspace_id, Consent.customer_id.in_(customer_ids),
        ).execution_options(synchronize_session="fetch"))


class PrivacyRepository(WorkspaceRepository[DataSubjectRequest]):
    model = DataSubjectRequest

    async def requests_of(self, customer_ids: Sequence[uuid.UUID]) -> Sequence[DataSubjectRequest]:
        stmt = self.select().where(DataSubjectRequest.customer_id.in_(customer_ids)).order_by(
            DataSubjectRequest.id)
        rows: Sequence[DataSubjectRequest] = (await self.session.execute(stmt)).scalars().all()
        return rows

    async def data_key(self, customer_id: uuid.UUID) -> CustomerDataKey | None:
        stmt = select(CustomerDataKey).where(CustomerDataKey.workspace_id == self.workspace_id,
                                             CustomerDataKey.customer_id == customer_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def destroy_keys(self, customer_ids: Sequence[uuid.UUID], now: datetime) -> None:
        await self.session.execute(update(CustomerDataKey).where(
            CustomerDataKey.workspace_id == self.workspace_id,
            CustomerDataKey.customer_id.in_(customer_ids),
        ).values(wrapped_key=None, destroyed_at=now).execution_options(
            synchronize_session="fetch"))

    async def suppressed(self, digests: Sequence[str]) -> bool:
        stmt = select(Suppression.id).where(Suppression.workspace_id == self.workspace_id,
                                            Suppression.digest.in_(digests)).limit(1)
        return (await self.session.execute(stmt)).first() is not None

    async def any_suppression(self) -> bool:
        found = await self.session.execute(select(any_suppression_in(self.workspace_id)))
        return bool(found.scalar())

    async def existing_suppressions(self, digests: Sequence[str]) -> set[str]:
        stmt = select(Suppression.digest).where(Suppression.workspace_id == self.workspace_id,
                                                Suppression.digest.in_(digests))
        return set((await self.session.execute(stmt)).scalars())

    def add_row(self, row: Any) -> None:
        row.workspace_id = self.workspace_id
        self.session.add(row)


def any_suppression_in(workspace_id: Any) -> Exists:
    """Whether the workspace (a value or a bound parameter) holds any suppression."""
    return exists().where(Suppression.workspace_id == workspace_id)


def any_suppression_sql(workspace_id: str) -> str:
    """PostgreSQL text of :func:`any_suppression_in`; ``workspace_id`` is the caller's SQL
    for a uuid (a placeholder)."""
    return (f"EXISTS (SELECT FROM {Suppression.__tablename__}"
            f" WHERE workspace_id = {workspace_id})")
