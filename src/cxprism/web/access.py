"""Who is looking at a page, and may they? Every page route depends on :func:`page_user`.

A visitor without a valid session is sent to the sign-in page (and back afterwards); a
signed-in user whose role lacks the page's permission gets a 403 page.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from cxprism.kit.http import db_session
from cxprism.web import csrf
from cxprism.web.pages import field, redirect, render, request_path
from cxprism.workspaces.auth import Principal, session_principal
from cxprism.workspaces.models import User, Workspace
from cxprism.workspaces.permissions import Permission
from cxprism.workspaces.service import WorkspaceService


@dataclass(frozen=True)
class WebUser:
    principal: Principal
    user: User
    workspace: Workspace

    @property
    def is_admin(self) -> bool:
        return self.principal.can(Permission.WORKSPACE_MANAGE)

    def page_context(self) -> dict[str, object]:
        """What the base template needs: who is signed in, the navigation, the CSRF token."""
        return {"user": self.user, "workspace": self.workspace, "is_admin": self.is_admin,
                "csrf_token": self.principal.csrf_token or ""}


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__("sign in required")
        self.next_path = next_path


class PageForbidden(Exception):
    def __init__(self, viewer: WebUser, message: str) -> None:
        super().__init__(message)
        self.viewer = viewer
        self.message = message


def page_user(permission: Permission | None) -> Callable[..., Awaitable[WebUser]]:
    """A dependency: the signed-in user, who must hold ``permission`` (None: any role)."""

    async def dependency(request: Request,
                         session: AsyncSession = Depends(db_session)) -> WebUser:
        principal = await session_principal(request, session)
        if principal is None or principal.user_id is None:
            back = request_path(request) if request.method == "GET" else "/"
            raise SignInRequired(back)
        service = WorkspaceService(session, principal.workspace_id, principal.user_id)
        viewer = WebUser(principal, await service.get_user(principal.user_id),
                         await service.get_workspace())
        if permission is not None and not principal.can(permission):
            raise PageForbidden(viewer, f"Your role ({principal.role}) cannot open this page.")
        return viewer

    return dependency


async def _sign_in_required(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    return redirect(f"/login?next={quote(exc.next_path, safe='/')}")


async def _page_forbidden(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageForbidden)
    return render("forbidden.html", {**exc.viewer.page_context(), "message": exc.message},
                  status=403)


def install_page_errors(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(PageForbidden, _page_forbidden)


async def checked_form(request: Request, viewer: WebUser, expired: str) -> FormData:
    """The posted form, once its CSRF token matches the viewer's session; else 403 page."""
    form = await request.form()
    if not csrf.session_token_matches(viewer.principal, field(form, csrf.FORM_FIELD)):
        raise PageForbidden(viewer, expired)
    return form
