"""The agent workspace's sign-in and sign-out, and mounting the web UI on the app."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.config import Settings
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.web import csrf, throttle, workspace_pages
from cxprism.web.access import WebUser, checked_form, install_page_errors, page_user
from cxprism.web.pages import STATIC_DIR, field, redirect, render, safe_next
from cxprism.workspaces.auth import SESSION_COOKIE, check_password
from cxprism.workspaces.service import end_web_session, start_web_session

router = APIRouter(route_class=TransactionalRoute, include_in_schema=False)
Session = Depends(db_session)
SignedIn = Depends(page_user(None))

GENERIC_FAILURE = "Wrong workspace, email or password."
FORM_EXPIRED = "This sign-in form expired or did not come from cxprism; please try again."


def mount(app: FastAPI) -> None:
    install_page_errors(app)
    app.include_router(router)
    app.include_router(workspace_pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@dataclass(frozen=True)
class Entered:
    """What the visitor typed, shown again after a failure (never the password)."""

    next_path: str = "/"
    workspace: str = ""
    email: str = ""


def _login_page(request: Request, entered: Entered, *, status: int, message: str = "",
                headers: dict[str, str] | None = None) -> Response:
    settings = _settings(request)
    token = csrf.login_token(settings, request.cookies.get(csrf.LOGIN_CSRF_COOKIE))
    response = render("login.html", {
        "csrf_token": token, "next_path": entered.next_path, "message": message,
        "workspace_slug": entered.workspace, "email": entered.email},
        status=status, headers=headers)
    response.set_cookie(csrf.LOGIN_CSRF_COOKIE, token, max_age=csrf.LOGIN_CSRF_MAX_AGE,
                        path="/login", httponly=True, samesite="lax",
                        secure=settings.secure_cookies)
    return response


@router.get("/login")
async def login_form(request: Request, next: str | None = None) -> Response:
    # Shown even when signed in: signing in again (another account) replaces the session.
    return _login_page(request, Entered(next_path=safe_next(next)), status=200)


@router.post("/login")
async def login(request: Request, session: AsyncSession = Session) -> Response:
    settings = _settings(request)
    form = await request.form()
    workspace, email = field(form, "workspace", 63), field(form, "email", 320)
    password, next_path = field(form, "password", 1024), safe_next(field(form, "next"))
    page = Entered(next_path, workspace, email)
    if not csrf.login_token_matches(settings, request.cookies.get(csrf.LOGIN_CSRF_COOKIE),
                                    field(form, csrf.FORM_FIELD)):
        return _login_page(request, page, status=403, message=FORM_EXPIRED)
    account = throttle.account_key(workspace, email)
    address = throttle.address_key(request.client.host if request.client else "unknown")
    limits = {account: throttle.ACCOUNT_LIMIT, address: throttle.ADDRESS_LIMIT}
    now = time.time()
    # Counted before the password is checked, in a transaction of its own that ends before
    # this request's session starts one (nothing above has touched ``session``).
    wait = await throttle.admit(request.app.state.db, limits, now)
    if wait:
        minutes = max(1, round(wait / 60))
        return _login_page(
            request, page, status=429, headers={"Retry-After": str(wait)},
            message=f"Too many failed sign-in attempts. Try again in {minutes} minutes.")
    user = await check_password(session, workspace, email, password)
    if user is None:  # the attempt already counts as a failure
        return _login_page(request, page, status=401, message=GENERIC_FAILURE)
    await throttle.forget(session, account)
    await throttle.forgive(session, address, now)
    old_token = request.cookies.get(SESSION_COOKIE)
    if old_token:  # never keep a session the browser had before signing in (fixation)
        await end_web_session(session, old_token)
    _, token = await start_web_session(session, user, request.headers.get("user-agent", ""),
                                       timedelta(hours=settings.session_ttl_hours))
    response = redirect(next_path)
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_ttl_hours * 3600,
                        path="/", httponly=True, samesite="lax",
                        secure=settings.secure_cookies)
    response.delete_cookie(csrf.LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request, viewer: WebUser = SignedIn,
                 session: AsyncSession = Session) -> Response:
    await checked_form(request, viewer,
                       "The sign-out form expired; reload the page and try again.")
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        await end_web_session(session, token)
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax",
                           secure=_settings(request).secure_cookies)
    return response
