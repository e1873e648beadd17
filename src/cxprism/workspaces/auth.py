"""Who is calling, and may they? Bearer API keys for the API; session cookies for the web UI.

Every route depends on :func:`require` with the permission it needs. A session-cookie
request that changes anything must also carry the session's CSRF token (header
``X-CSRF-Token`` or form field ``csrf_token``).
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import BindParameter, ScalarSelect
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit import idempotency
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Forbidden, Unauthorized
from cxprism.kit.http import db_session
from cxprism.kit.security import (
    digest_secret,
    secret_matches,
    split_secret,
    verify_password_in_thread,
)
from cxprism.workspaces import repository as repo
from cxprism.workspaces.models import ApiKey, Source, User, WebSession
from cxprism.workspaces.permissions import Permission, Role, allows
from cxprism.workspaces.service import API_KEY_PREFIX, WRITE_KEY_PREFIX, is_expired

SESSION_COOKIE = "cxprism_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class Principal:
    workspace_id: uuid.UUID
    role: Role
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    csrf_token: str | None = None

    @property
    def caller(self) -> str:
        """The credential behind the request: an API key or a signed-in user."""
        return f"key:{self.api_key_id}" if self.api_key_id else f"user:{self.user_id}"

    def can(self, permission: Permission) -> bool:
        return allows(self.role, permission)


async def authenticate(request: Request, session: AsyncSession) -> Principal:
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    header = request.headers.get("authorization")
    if header is not None:
        principal = await _from_bearer(session, header)
    else:
        from_cookie = await session_principal(request, session)
        if from_cookie is None:
            raise Unauthorized("Sign in, or send an API key as 'Authorization: Bearer <key>'.")
        if request.method not in SAFE_METHODS:
            await _check_csrf(request, from_cookie)
        principal = from_cookie
    request.state.principal = principal
    return principal


# Declares the bearer scheme in OpenAPI (the "Authorize" button in /docs); the checking
# itself is ours, below, so a missing header can fall back to the session cookie.
_bearer_scheme = HTTPBearer(auto_error=False, description="An API key: cxp_...")


def require(permission: Permission) -> Callable[..., Awaitable[Principal]]:
    async def dependency(
        request: Request,
        session: AsyncSession = Depends(db_session),
        _bearer: HTTPAuthorizationCredentials | None = Security(_bearer_scheme),
    ) -> Principal:
        principal = await authenticate(request, session)
        if not principal.can(permission):
            raise Forbidden(f"The {principal.role} role does not allow {permission}.")
        await idempotency.check(session, request, principal.workspace_id, principal.caller)
        return principal

    return dependency


async def _from_bearer(session: AsyncSession, header: str) -> Principal:
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("The Authorization header must be 'Bearer <API key>'.")
    key = await _by_secret(session, token, API_KEY_PREFIX, repo.api_key_by_lookup)
    if key is None:
        raise Unauthorized("The API key is not valid.")
    if key.revoked_at is not None:
        raise Unauthorized("The API key was revoked.")
    if is_expired(key.expires_at):
        raise Unauthorized("The API key has expired.")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        key.last_used_at = now
    return Principal(workspace_id=key.workspace_id, role=Role(key.role), api_key_id=key.id)


SecretRow = TypeVar("SecretRow", ApiKey, Source)


async def _by_secret(session: AsyncSession, secret: str, prefix: str,
                     find: Callable[[AsyncSession, str], Awaitable[SecretRow | None]]
                     ) -> SecretRow | None:
    """The row a bearer secret names (found by its lookup part), if the whole secret matches."""
    lookup = split_secret(secret, prefix)
    row = await find(session, lookup) if lookup else None
    return row if row is not None and secret_matches(row.digest, secret) else None


@dataclass(frozen=True)
class SourceCredential:
    """A tracking source, as its write key names it."""

    workspace_id: uuid.UUID
    source_id: uuid.UUID


async def source_for_write_key(session: AsyncSession, write_key: str) -> SourceCredential:
    """The active source this write key belongs to; 401 for a bad or revoked key."""
    source = await _by_secret(session, write_key, WRITE_KEY_PREFIX, repo.source_by_lookup)
    if source is None:
        raise Unauthorized("The write key is not valid.")
    if source.revoked_at is not None:
        raise Unauthorized("The write key's source was revoked.")
    return SourceCredential(workspace_id=source.workspace_id, source_id=source.id)


def active_source_count(ids: Sequence[uuid.UUID] | BindParameter[Any]) -> ScalarSelect[int]:
    """How many of these (distinct) sources are not revoked, as a clause: a caller checking
    other things too asks in the same statement, and needs :func:`active_sources` only when
    the count falls short. ``ids`` may be an expanding bound parameter."""
    return repo.active_source_count(ids)


def active_source_count_sql(ids: str) -> str:
    """The same count as PostgreSQL text, ``ids`` the caller's SQL for a uuid[]."""
    return repo.active_source_count_sql(ids)


async def active_sources(session: AsyncSession, ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these sources are not revoked (checked again when their events commit)."""
    return await repo.active_source_ids(session, ids)


async def session_principal(request: Request, session: AsyncSession) -> Principal | None:
    """The signed-in web user, or None (no cookie, unknown, expired or deactivated)."""
    found = await _web_session(request, session)
    if found is None:
        return None
    web_session, user = found
    return Principal(workspace_id=user.workspace_id, role=Role(user.role), user_id=user.id,
                     csrf_token=web_session.csrf_token)


async def _web_session(request: Request,
                       session: AsyncSession) -> tuple[WebSession, User] | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token or len(token) > 200:
        return None
    web_session = await repo.web_session_by_digest(session, digest_secret(token))
    if web_session is None or is_expired(web_session.expires_at):
        return None
    user = await repo.user_by_id(session, web_session.user_id)
    if user is None or not user.is_active:
        return None
    return web_session, user


async def _check_csrf(request: Request, principal: Principal) -> None:
    presented = request.headers.get(CSRF_HEADER)
    if presented is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        presented = value if isinstance(value, str) else None
    expected = principal.csrf_token or ""
    if not presented or not hmac.compare_digest(presented, expected):
        raise Forbidden("Missing or wrong CSRF token; reload the page and try again.",
                        code="csrf_failed")


async def check_password(session: AsyncSession, workspace_slug: str, email: str,
                         password: str) -> User | None:
    """The user these credentials name, or None; as slow for unknown users as known ones."""
    workspace = await repo.workspace_by_slug(session, workspace_slug.strip().lower())
    user = None
    if workspace is not None:
        user = await repo.UserRepository(session, workspace.id).by_email(email.strip().lower())
    valid = await verify_password_in_thread(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        return None
    return user
