"""Calling a messaging provider's REST API: what a failure means for a retry.

Shared by the WhatsApp Cloud and Twilio connectors. Network failures, timeouts, 429 and
5xx are transient (:class:`SendError` with ``transient=True``) so the delivery job retries
with backoff, honouring ``Retry-After``; anything else the provider refused is permanent,
and so is a base URL the SSRF guard refuses (``unsafe_destination``).
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from cxprism.channels.protocol import ANSWER_LOST, SendError, refused_destination
from cxprism.kit.safe_http import UnsafeDestination

MAX_RETRY_AFTER = 24 * 3600.0  # a longer wait is a misreading, not advice
MAX_REASON_CHARS = 500


async def post(http: httpx.AsyncClient, url: str, *, provider: str,
               **kwargs: Any) -> httpx.Response:
    """POST, turning network failures into transient :class:`SendError`."""
    try:
        return await http.post(url, **kwargs)
    except UnsafeDestination as exc:
        # A TransportError too, but refused before connecting: retrying cannot help.
        raise refused_destination(provider, exc) from exc
    except httpx.TimeoutException as exc:
        # Only a connect timeout proves nothing was sent; otherwise the provider may have
        # taken the message and its answer was lost: the code tells the caller so.
        code = "connect_timeout" if isinstance(exc, httpx.ConnectTimeout) else ANSWER_LOST
        raise SendError(f"{provider} did not answer in time ({type(exc).__name__})",
                        transient=True, code=code) from exc
    except httpx.TransportError as exc:
        raise SendError(f"{provider} could not be reached: {type(exc).__name__}: {exc}",
                        transient=True, code="network") from exc


def is_transient_status(status_code: int) -> bool:
    return status_code == 429 or status_code >= 500


def retry_after(response: httpx.Response, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay-seconds or an HTTP date)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def json_object(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None when it is not one."""
    try:
        document = json.loads(response.content)
    except (ValueError, UnicodeDecodeError):
        return None
    return document if isinstance(document, dict) else None


def clip(text: str) -> str:
    """A provider's message, bounded: it ends up in the message row and in logs."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_REASON_CHARS else text[:MAX_REASON_CHARS - 1] + "…"
