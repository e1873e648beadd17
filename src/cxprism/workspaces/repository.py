"""Every query of the workspaces domain."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, ScalarSelect, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import for_update
from cxprism.kit.repository import WorkspaceRepository
from cxprism.workspaces.models import (
    ApiKey,
    Source,
    Team,
    TeamMember,
    User,
    WebSession,
    Workspace,
)


class UserRepository(WorkspaceRepository[User]):
    model = User

    async def by_email(self, email: str) -> User | None:
        return await self.one_or_none(User.email == email)

    async def count_active_admins(self) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(User).where(
                User.workspace_id == self.workspace_id, User.role == "admin",
                User.is_active.is_(True)))
        return int(count or 0)


class TeamRepository(WorkspaceRepository[Team]):
    model = Team

    async def by_name(self, name: str) -> Team | None:
        return await self.one_or_none(Team.name == name)

    async def member_ids(self, team_id: uuid.UUID) -> list[uuid.UUID]:
        rows = await self.session.execute(
            select(TeamMember.user_id).where(TeamMember.workspace_id == self.workspace_id,
                                             TeamMember.team_id == team_id))
        return sorted(rows.scalars())

    async def add_member(self, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
        existing = await self.session.get(TeamMember, (team_id, user_id))
        if existing is None:
            self.session.add(TeamMember(workspace_id=self.workspace_id, team_id=team_id,
                                        user_id=user_id))

    async def remove_member(self, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
        await self.session.execute(delete(TeamMember).where(
            TeamMember.workspace_id == self.workspace_id, TeamMember.team_id == team_id,
            TeamMember.user_id == user_id))

    async def delete(self, team: Team) -> None:
        await self.session.delete(team)


class ApiKeyRepository(WorkspaceRepository[ApiKey]):
    model = ApiKey


class SourceRepository(WorkspaceRepository[Source]):
    model = Source


# Credential look-ups happen before the workspace is known, so they are not scoped.

async def workspace_by_slug(session: AsyncSession, slug: str) -> Workspace | None:
    return (await session.execute(
        select(Workspace).where(Workspace.slug == slug))).scalar_one_or_none()


async def lock_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> None:
    dialect = session.get_bind().dialect.name
    await session.execute(for_update(dialect, select(Workspace.id).where(
        Workspace.id == workspace_id)))


async def workspace_by_id(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace | None:
    return await session.get(Workspace, workspace_id)


async def all_workspaces(session: AsyncSession) -> Sequence[Workspace]:
    return (await session.execute(select(Workspace).order_by(Workspace.slug))).scalars().all()


async def api_key_by_lookup(session: AsyncSession, lookup: str) -> ApiKey | None:
    return (await session.execute(
        select(ApiKey).where(ApiKey.lookup == lookup))).scalar_one_or_none()


async def source_by_lookup(session: AsyncSession, lookup: str) -> Source | None:
    return (await session.execute(
        select(Source).where(Source.lookup == lookup))).scalar_one_or_none()


def active_source_count(ids: Sequence[uuid.UUID] | BindParameter[Any]) -> ScalarSelect[int]:
    return (select(func.count()).select_from(Source)
            .where(Source.id.in_(ids), Source.revoked_at.is_(None)).scalar_subquery())


def active_source_count_sql(ids: str) -> str:
    """PostgreSQL text of :func:`active_source_count`; ``ids`` is the caller's SQL for a
    uuid[] (a placeholder), for a caller writing its whole commit as one statement."""
    return (f"(SELECT count(*) FROM {Source.__tablename__} WHERE id = ANY({ids})"  # noqa: S608
            " AND revoked_at IS NULL)")


async def active_source_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    rows = await session.execute(
        select(Source.id).where(Source.id.in_(ids), Source.revoked_at.is_(None)))
    return set(rows.scalars())


async def web_session_by_digest(session: AsyncSession, digest: str) -> WebSession | None:
    return await session.get(WebSession, digest)


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def delete_web_session(session: AsyncSession, digest: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.digest == digest))


async def delete_expired_web_sessions(session: AsyncSession, now: datetime) -> int:
    result = await session.execute(delete(WebSession).where(WebSession.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
