"""Rules for workspaces, people and credentials. Flushes, never commits."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.config import get_settings
from cxprism.kit import crypto
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, NotFound, Unprocessable
from cxprism.kit.security import digest_secret, hash_password_in_thread, new_secret
from cxprism.workspaces import repository as repo
from cxprism.workspaces import schemas
from cxprism.workspaces.models import ApiKey, Source, Team, User, WebSession, Workspace
from cxprism.workspaces.permissions import Role

API_KEY_PREFIX = "cxp"
WRITE_KEY_PREFIX = "wk"


def _sealing_key() -> bytes:
    return crypto.derive_key(get_settings().secret_key.get_secret_value(), "sources")


async def create_workspace(session: AsyncSession, data: schemas.WorkspaceCreate) -> Workspace:
    if await repo.workspace_by_slug(session, data.slug) is not None:
        raise Conflict(f"A workspace with slug {data.slug!r} already exists.", code="slug_taken")
    workspace = Workspace(slug=data.slug, name=data.name, timezone=data.timezone)
    session.add(workspace)
    await session.flush()
    events.record(session, workspace.id, "workspace.created", {"slug": workspace.slug})
    return workspace


class WorkspaceService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor_id: uuid.UUID | None = None) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.actor_id = actor_id
        self.users = repo.UserRepository(session, workspace_id)
        self.teams = repo.TeamRepository(session, workspace_id)
        self.api_keys = repo.ApiKeyRepository(session, workspace_id)
        self.sources = repo.SourceRepository(session, workspace_id)

    def _event(self, type_: str, payload: dict[str, object]) -> None:
        actor = str(self.actor_id) if self.actor_id else None
        events.record(self.session, self.workspace_id, type_, {**payload, "actor_id": actor})

    # Workspace ---------------------------------------------------------------------------

    async def get_workspace(self) -> Workspace:
        workspace = await repo.workspace_by_id(self.session, self.workspace_id)
        if workspace is None:
            raise NotFound("Workspace not found.")
        return workspace

    async def update_workspace(self, data: schemas.WorkspaceUpdate) -> Workspace:
        workspace = await self.get_workspace()
        for field, value in data.model_dump(exclude_unset=True, exclude_none=True).items():
            setattr(workspace, field, value)
        await self.session.flush()
        return workspace

    # Users -------------------------------------------------------------------------------

    async def get_user(self, user_id: uuid.UUID) -> User:
        user = await self.users.get(user_id)
        if user is None:
            raise NotFound("User not found.")
        return user

    async def create_user(self, data: schemas.UserCreate) -> User:
        if await self.users.by_email(data.email) is not None:
            raise Conflict(f"A user with email {data.email} already exists.", code="email_taken")
        password_hash = await hash_password_in_thread(data.password) if data.password else None
        user = self.users.add(User(
            email=data.email, name=data.name, role=data.role.value, password_hash=password_hash))
        await self.users.flush()
        self._event("user.created", {"user_id": str(user.id), "role": user.role})
        return user

    async def update_user(self, user_id: uuid.UUID, data: schemas.UserUpdate) -> User:
        user = await self.get_user(user_id)
        losing_admin = user.role == Role.ADMIN and user.is_active and (
            (data.role is not None and data.role != Role.ADMIN) or data.is_active is False)
        if losing_admin:
            # Serialise admin changes per workspace, so two concurrent demotions cannot
            # both see "another admin is left".
            await repo.lock_workspace(self.session, self.workspace_id)
        if losing_admin and await self.users.count_active_admins() <= 1:
            raise Conflict("This is the last active admin; make another admin first.",
                           code="last_admin")
        if data.role is not None and data.role != user.role:
            self._event("user.role_changed",
                        {"user_id": str(user.id), "from": user.role, "to": data.role.value})
            user.role = data.role.value
        if data.name is not None:
            user.name = data.name
        if data.is_active is not None:
            user.is_active = data.is_active
        if data.password is not None:
            user.password_hash = await hash_password_in_thread(data.password)
        await self.users.flush()
        return user

    async def list_users(self, after: uuid.UUID | None,
                         limit: int) -> tuple[Sequence[User], uuid.UUID | None]:
        return await self.users.page(after=after, limit=limit)

    # Teams -------------------------------------------------------------------------------

    async def get_team(self, team_id: uuid.UUID) -> Team:
        team = await self.teams.get(team_id)
        if team is None:
            raise NotFound("Team not found.")
        return team

    async def create_team(self, data: schemas.TeamCreate) -> Team:
        if await self.teams.by_name(data.name) is not None:
            raise Conflict(f"A team named {data.name!r} already exists.", code="name_taken")
        team = self.teams.add(Team(name=data.name, description=data.description))
        await self.teams.flush()
        return team

    async def update_team(self, team_id: uuid.UUID, data: schemas.TeamUpdate) -> Team:
        team = await self.get_team(team_id)
        if data.name is not None and data.name != team.name:
            if await self.teams.by_name(data.name) is not None:
                raise Conflict(f"A team named {data.name!r} already exists.", code="name_taken")
            team.name = data.name
        if data.description is not None:
            team.description = data.description
        await self.teams.flush()
        return team

    async def delete_team(self, team_id: uuid.UUID) -> None:
        await self.teams.delete(await self.get_team(team_id))
        await self.teams.flush()

    async def add_team_member(self, team_id: uuid.UUID, user_id: uuid.UUID) -> Team:
        team = await self.get_team(team_id)
        await self.get_user(user_id)
        await self.teams.add_member(team.id, user_id)
        await self.teams.flush()
        return team

    async def remove_team_member(self, team_id: uuid.UUID, user_id: uuid.UUID) -> None:
        team = await self.get_team(team_id)
        user = await self.get_user(user_id)  # another workspace's user: 404, as everywhere
        await self.teams.remove_member(team.id, user.id)

    async def team_member_ids(self, team_id: uuid.UUID) -> list[uuid.UUID]:
        return await self.teams.member_ids(team_id)

    # API keys ----------------------------------------------------------------------------

    async def create_api_key(self, data: schemas.ApiKeyCreate) -> tuple[ApiKey, str]:
        if data.expires_at is not None and data.expires_at <= utcnow():
            raise Unprocessable("expires_at must be in the future.",
                                details={"field": "expires_at"})
        secret, lookup = new_secret(API_KEY_PREFIX)
        key = self.api_keys.add(ApiKey(
            name=data.name, role=data.role.value, lookup=lookup, digest=digest_secret(secret),
            created_by=self.actor_id, expires_at=data.expires_at))
        await self.api_keys.flush()
        self._event("api_key.created", {"api_key_id": str(key.id), "role": key.role})
        return key, secret

    async def revoke_api_key(self, key_id: uuid.UUID) -> ApiKey:
        key = await self.api_keys.get(key_id)
        if key is None:
            raise NotFound("API key not found.")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            self._event("api_key.revoked", {"api_key_id": str(key.id)})
            await self.api_keys.flush()
        return key

    async def list_api_keys(self, after: uuid.UUID | None,
                            limit: int) -> tuple[Sequence[ApiKey], uuid.UUID | None]:
        return await self.api_keys.page(after=after, limit=limit)

    # Tracking sources --------------------------------------------------------------------

    async def create_source(self, data: schemas.SourceCreate) -> tuple[Source, str]:
        if await self.sources.one_or_none(Source.name == data.name) is not None:
            raise Conflict(f"A source named {data.name!r} already exists.", code="name_taken")
        write_key, lookup = new_secret(WRITE_KEY_PREFIX)
        source = self.sources.add(Source(
            name=data.name, kind=data.kind.value, lookup=lookup,
            digest=digest_secret(write_key),
            sealed_key=crypto.encrypt(_sealing_key(), write_key.encode(), lookup.encode())))
        await self.sources.flush()
        return source, write_key

    async def list_sources(self, after: uuid.UUID | None,
                           limit: int) -> tuple[Sequence[Source], uuid.UUID | None]:
        return await self.sources.page(after=after, limit=limit)

    async def get_source(self, source_id: uuid.UUID) -> Source:
        source = await self.sources.get(source_id)
        if source is None:
            raise NotFound("Source not found.")
        return source

    async def revoke_source(self, source_id: uuid.UUID) -> Source:
        source = await self.get_source(source_id)
        source.revoked_at = source.revoked_at or utcnow()
        await self.sources.flush()
        return source


def reveal_write_key(source: Source) -> str:
    return crypto.decrypt(_sealing_key(), source.sealed_key, source.lookup.encode()).decode()


async def start_web_session(session: AsyncSession, user: User, user_agent: str,
                            ttl: timedelta) -> tuple[WebSession, str]:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    web_session = WebSession(
        digest=digest_secret(token), workspace_id=user.workspace_id, user_id=user.id,
        csrf_token=secrets.token_urlsafe(32), created_at=now, expires_at=now + ttl,
        user_agent=user_agent[:300])
    session.add(web_session)
    user.last_login_at = now
    await session.flush()
    return web_session, token


async def end_web_session(session: AsyncSession, token: str) -> None:
    """Sign a browser out: its cookie token stops working at once."""
    await repo.delete_web_session(session, digest_secret(token))


async def purge_expired_web_sessions(session: AsyncSession) -> int:
    return await repo.delete_expired_web_sessions(session, utcnow())


def is_expired(moment: datetime | None) -> bool:
    return moment is not None and moment <= utcnow()
