"""Signed-in pages: the home page and the admins' API key settings."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.errors import AppError
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import clamp_limit
from cxprism.web.access import WebUser, checked_form, page_user
from cxprism.web.pages import field, render
from cxprism.workspaces import schemas
from cxprism.workspaces.models import ApiKey
from cxprism.workspaces.permissions import Permission, Role
from cxprism.workspaces.service import WorkspaceService, is_expired

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Session = Depends(db_session)
SignedIn = Depends(page_user(None))
Admin = Depends(page_user(Permission.WORKSPACE_MANAGE))


@router.get("/")
async def home(viewer: WebUser = SignedIn) -> Response:
    return render("home.html", viewer.page_context())


def key_status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if is_expired(key.expires_at):
        return "expired"
    return "active"


async def _api_keys_page(session: AsyncSession, viewer: WebUser, *, status: int = 200,
                         new_secret: str = "", error: str = "", name: str = "") -> Response:
    service = WorkspaceService(session, viewer.workspace.id, viewer.user.id)
    keys, more = await service.list_api_keys(None, clamp_limit(None))
    rows = [{"key": key, "status": key_status(key)} for key in keys]
    return render("api_keys.html", {
        **viewer.page_context(), "keys": rows, "more": more is not None,
        "roles": [role.value for role in Role], "new_secret": new_secret, "error": error,
        "name": name}, status=status)


@router.get("/settings/api-keys")
async def api_keys(viewer: WebUser = Admin, session: AsyncSession = Session) -> Response:
    return await _api_keys_page(session, viewer)


@router.post("/settings/api-keys")
async def create_api_key(request: Request, viewer: WebUser = Admin,
                         session: AsyncSession = Session) -> Response:
    form = await checked_form(request, viewer, "The form expired; reload the page and try again.")
    name = field(form, "name", 300).strip()
    try:
        data = schemas.ApiKeyCreate.model_validate(
            {"name": name, "role": field(form, "role") or Role.ADMIN.value})
        _, secret = await WorkspaceService(
            session, viewer.workspace.id, viewer.user.id).create_api_key(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'form'}: {e['msg']}"
                             for e in exc.errors())
        return await _api_keys_page(session, viewer, status=422, name=name,
                                    error=f"The key was not created: {problems}")
    except AppError as exc:  # a 4xx page: the request's transaction rolls back
        return await _api_keys_page(session, viewer, status=exc.status_code, name=name,
                                    error=exc.message)
    return await _api_keys_page(session, viewer, status=201, new_secret=secret)
