"""CSRF protection for the web pages.

Before sign-in there is no session to bind a token to, so the login form uses a signed
double-submit token: the same HMAC-signed random value in a short-lived cookie and in a
hidden form field. A cross-site form can neither read the cookie nor forge a signature.
After sign-in, forms carry the session's own CSRF token (kept in the WebSession row).
"""

from __future__ import annotations

import hmac
import secrets

from cxprism.config import Settings
from cxprism.kit import crypto, signing
from cxprism.workspaces.auth import Principal

LOGIN_CSRF_COOKIE = "cxprism_login_csrf"
LOGIN_CSRF_MAX_AGE = 2 * 60 * 60
FORM_FIELD = "csrf_token"
_PURPOSE = "login-form"
_MAX_TOKEN_LENGTH = 200


def _key(settings: Settings) -> bytes:
    return crypto.derive_key(settings.secret_key.get_secret_value(), "csrf")


def _valid_login_token(settings: Settings, token: str | None) -> bool:
    if not token or len(token) > _MAX_TOKEN_LENGTH:
        return False
    return signing.unsign(_key(settings), _PURPOSE, token, max_age=LOGIN_CSRF_MAX_AGE) is not None


def login_token(settings: Settings, cookie: str | None) -> str:
    """The token for a login form: the browser's current one if still valid (other tabs
    keep working), else a fresh one."""
    if cookie is not None and _valid_login_token(settings, cookie):
        return cookie
    return signing.sign(_key(settings), _PURPOSE, secrets.token_urlsafe(18))


def login_token_matches(settings: Settings, cookie: str | None, submitted: str | None) -> bool:
    if not cookie or not submitted or not _valid_login_token(settings, cookie):
        return False
    return hmac.compare_digest(cookie.encode(), submitted.encode())


def session_token_matches(principal: Principal, submitted: str | None) -> bool:
    expected = principal.csrf_token
    if not expected or not submitted:
        return False
    return hmac.compare_digest(expected.encode(), submitted.encode())
