"""Repository base: every query is scoped to the caller's workspace.

Domain repositories subclass :class:`WorkspaceRepository` and build their queries from
``self.select()``, so a row of another workspace is simply not found (and the API answers
404, never 403: existence is not disclosed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.models import Base

M = TypeVar("M", bound=Base)


class WorkspaceRepository(Generic[M]):
    model: ClassVar[type[Any]]

    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def select(self) -> Select[Any]:
        return select(self.model).where(self.model.workspace_id == self.workspace_id)

    async def get(self, id_: uuid.UUID) -> M | None:
        result = await self.session.execute(self.select().where(self.model.id == id_))
        found: M | None = result.scalar_one_or_none()
        return found

    async def one_or_none(self, *conditions: ColumnElement[bool]) -> M | None:
        result = await self.session.execute(self.select().where(*conditions))
        found: M | None = result.scalars().first()
        return found

    async def page(
        self, *conditions: ColumnElement[bool], after: uuid.UUID | None, limit: int
    ) -> tuple[Sequence[M], uuid.UUID | None]:
        """Rows in id order after ``after``; the second value is the next page's cursor."""
        stmt = self.select().where(*conditions)
        if after is not None:
            stmt = stmt.where(self.model.id > after)
        rows = (await self.session.execute(stmt.order_by(self.model.id).limit(limit + 1))).scalars()
        items: list[M] = list(rows)
        if len(items) > limit:
            last: uuid.UUID = getattr(items[limit - 1], "id")  # noqa: B009 - M has no id attr type
            return items[:limit], last
        return items, None

    def add(self, obj: M) -> M:
        obj.workspace_id = self.workspace_id  # type: ignore[attr-defined]
        self.session.add(obj)
        return obj

    async def flush(self) -> None:
        await self.session.flush()
