"""Workspaces (tenants), users, teams, API keys, tracking sources and web sessions."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.models import Base, IdMixin, TimestampMixin, WorkspaceScopedMixin


class Workspace(IdMixin, TimestampMixin, Base):
    __tablename__ = "workspaces"

    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")


class User(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("workspace_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[datetime | None]


class Team(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(1000), default="")


class TeamMember(WorkspaceScopedMixin, Base):
    __tablename__ = "team_members"

    team_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)


class ApiKey(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    """A bearer credential; only the SHA-256 of the secret is kept."""

    __tablename__ = "api_keys"

    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[uuid.UUID | None]
    last_used_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Source(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    """A tracking source (website, app, server) and its write key.

    The write key is found by its digest and kept envelope-encrypted, because web and app
    sources must show it again to be embedded in a page or an app build.
    """

    __tablename__ = "sources"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    lookup: Mapped[str] = mapped_column(String(32), unique=True)
    digest: Mapped[str] = mapped_column(String(64))
    sealed_key: Mapped[bytes] = mapped_column(LargeBinary)
    revoked_at: Mapped[datetime | None]


class WebSession(WorkspaceScopedMixin, Base):
    """A signed-in browser. The cookie holds a random token; we keep its digest."""

    __tablename__ = "web_sessions"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    user_agent: Mapped[str] = mapped_column(String(300), default="")
