"""Rendering server-side pages: templates, security headers, redirects, safe `next` paths."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.datastructures import FormData

# Found beside this module, so an installed (non-editable) package works too.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

_environment = Environment(loader=FileSystemLoader(TEMPLATES_DIR), autoescape=True,
                           undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
        "object-src 'none'"),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    # Pages show per-user data (and API key secrets once): never cache them.
    "Cache-Control": "no-store",
}


def render(name: str, context: Mapping[str, Any], status: int = 200,
           headers: Mapping[str, str] | None = None) -> HTMLResponse:
    html = _environment.get_template(name).render(**context)
    return HTMLResponse(html, status_code=status, headers={**SECURITY_HEADERS, **(headers or {})})


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=dict(SECURITY_HEADERS))


def safe_next(value: str | None) -> str:
    """A local path to go to after sign-in; anything else (absolute or scheme-relative
    URLs, backslash tricks, control characters) falls back to the home page."""
    if not value or len(value) > 1000 or not value.startswith("/"):
        return "/"
    if value.startswith(("//", "/\\")) or "\\" in value:
        return "/"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def field(form: FormData, name: str, max_length: int = 1000) -> str:
    """A text form field, '' when absent, not text, or too long to be genuine."""
    value = form.get(name)
    if not isinstance(value, str) or len(value) > max_length:
        return ""
    return value


def request_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")
