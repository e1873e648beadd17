"""Replies to social items, POSTed to the company's bridge and signed (Standard Webhooks).

The request body::

    {"network": "twitter", "account": "acme", "in_reply_to": "<network item id>" | null,
     "to": "<customer handle>", "text": "...", "public": true,
     "idempotency_key": "..." | null,
     "attachments": [{"url": "https://...", "content_type": "...", "filename": "..."}]}

The bridge answers 2xx, optionally with ``{"id": "<network id of the reply>"}``. Its
``webhook-id`` is the message's idempotency key, so a retried send is recognisably the
same reply and the bridge can drop the duplicate.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from cxprism.channels.protocol import (
    OutboundMessage,
    SendError,
    SendResult,
    refused_destination,
)
from cxprism.channels.social.config import SocialConfig
from cxprism.channels.social.signing import sign_headers, webhook_id_for
from cxprism.kit.clock import ensure_utc
from cxprism.kit.safe_http import UnsafeDestination
from cxprism.kit.validation import check_text

MAX_RESPONSE_BYTES = 64 * 1024
MAX_RETRY_AFTER_SECONDS = 86_400.0
MAX_ERROR_EXCERPT = 200
_SECONDS = re.compile(r"\d{1,9}(?:\.\d{1,6})?", re.ASCII)
# Statuses after which the same request may succeed later.
_TRANSIENT_STATUSES = frozenset({408, 425, 429})


def reply_body(config: SocialConfig, message: OutboundMessage) -> bytes:
    """The JSON body for a reply (raises a permanent :class:`SendError` if it cannot be)."""
    if any(a.url is None for a in message.attachments):
        raise SendError("social replies can only carry attachments by URL",
                        transient=False, code="attachment_not_linked")
    in_reply_to = message.in_reply_to
    if in_reply_to is not None:
        in_reply_to = in_reply_to.removeprefix(f"{config.network}:")
    document = {
        "network": config.network,
        "account": config.account,
        "in_reply_to": in_reply_to,
        "to": message.to,
        "text": message.text,
        # Only an explicit False keeps a reply private (answering a direct message).
        "public": message.metadata.get("public", True) is not False,
        "idempotency_key": message.idempotency_key,
        "attachments": [{"url": a.url, "content_type": a.content_type, "filename": a.filename}
                        for a in message.attachments],
    }
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


async def post_reply(config: SocialConfig, message: OutboundMessage, http: httpx.AsyncClient,
                     now: datetime) -> SendResult:
    if config.reply_url is None or config.reply_secret is None:
        raise SendError("this social channel has no reply URL configured",
                        transient=False, code="no_reply_url")
    body = reply_body(config, message)
    msg_id = webhook_id_for(message.idempotency_key)
    headers = sign_headers(config.reply_secret, msg_id, body, now)
    headers["content-type"] = "application/json"
    try:
        response = await http.post(config.reply_url, content=body, headers=headers)
    except UnsafeDestination as exc:
        # Refused before connecting (so no reply can have gone out): permanent.
        raise refused_destination("the reply URL", exc) from exc
    except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
        raise SendError(f"the reply URL cannot be called: {exc}", transient=False,
                        code="bad_reply_url") from exc
    # A timeout may hide a reply that was delivered; retrying is still safe because the
    # retry carries the same webhook-id for the bridge to deduplicate.
    except httpx.TimeoutException as exc:
        raise SendError("the reply URL did not answer in time", transient=True,
                        code="timeout") from exc
    except httpx.TransportError as exc:
        raise SendError(f"the reply URL could not be reached: {exc!r}", transient=True,
                        code="unreachable") from exc
    return _result(config, response, msg_id, now)


def _result(config: SocialConfig, response: httpx.Response, msg_id: str,
            now: datetime) -> SendResult:
    status = response.status_code
    if 200 <= status < 300:
        reply_id = _reply_id(response)
        external_id = (f"{config.network}:{reply_id}" if reply_id is not None
                       else f"{config.network}:reply:{msg_id}")
        return SendResult(external_id=external_id,
                          details={"webhook_id": msg_id, "status_code": status})
    transient = status in _TRANSIENT_STATUSES or status >= 500
    retry_after = retry_after_seconds(response.headers.get("retry-after"), now)
    raise SendError(
        f"the reply URL answered HTTP {status}{_excerpt(response)}",
        transient=transient, retry_after=retry_after if transient else None,
        code=f"http_{status}")


def _reply_id(response: httpx.Response) -> str | None:
    """The network's id of the reply, if the bridge answered one we can trust."""
    if len(response.content) > MAX_RESPONSE_BYTES:
        return None
    try:
        document: Any = json.loads(response.content)
    except ValueError:  # not JSON (or not UTF-8): the bridge said nothing about the id
        return None
    value = document.get("id") if isinstance(document, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = str(value).strip()
    try:
        check_text(text)
    except ValueError:
        return None
    return text if 0 < len(text) <= 255 else None


def _excerpt(response: httpx.Response) -> str:
    text = response.content[:MAX_ERROR_EXCERPT * 4].decode("utf-8", "replace")
    clean = " ".join(text.split())[:MAX_ERROR_EXCERPT]
    return f": {clean}" if clean else ""


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or an HTTP date), bounded."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if _SECONDS.fullmatch(value):
        seconds = float(value)
    else:
        try:
            seconds = (ensure_utc(parsedate_to_datetime(value)) - now).total_seconds()
        except (TypeError, ValueError, OverflowError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)
