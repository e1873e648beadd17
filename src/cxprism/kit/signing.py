"""HMAC-signed, expiring tokens (CSRF tokens, signed cookies)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def sign(key: bytes, purpose: str, value: str, *, now: float | None = None) -> str:
    issued = str(int(now if now is not None else time.time()))
    mac = hmac.new(key, f"{purpose}|{value}|{issued}".encode(), hashlib.sha256).digest()
    return f"{value}.{issued}.{_b64(mac)}"


def unsign(key: bytes, purpose: str, token: str, *, max_age: float,
           now: float | None = None) -> str | None:
    """The signed value, or None when the token is forged, for another purpose, or expired."""
    try:
        value, issued, mac = token.rsplit(".", 2)
        issued_at = int(issued)
    except ValueError:
        return None
    expected = hmac.new(key, f"{purpose}|{value}|{issued}".encode(), hashlib.sha256).digest()
    if not hmac.compare_digest(_b64(expected), mac):
        return None
    current = now if now is not None else time.time()
    if current - issued_at > max_age or issued_at > current + 60:
        return None
    return value
