"""Provider webhooks: ``/hooks/{kind}/{channel_id}``, authenticated by their signatures.

There is no API key here: the connector verifies the provider's signature with the
channel's secret before anything is parsed, and a request that fails gets 403 and
changes nothing. Replays are harmless (inbound items deduplicate by provider id).
Concurrent webhooks are committed together (conversations.batcher); each is answered
only once its items are committed.

Like the Segment API, this is a plain ASGI fast path in front of the application
(``kit.asgi``): a provider sends thousands of small webhooks a second, and the router and
middleware stack behind it would cost more than parsing and storing them.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy.exc import IntegrityError
from starlette.types import Receive, Scope, Send

from cxprism.channels.cache import channel_cache_of
from cxprism.channels.protocol import (
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
    WebhookResult,
)
from cxprism.channels.registry import UnknownChannelKind, registry
from cxprism.conversations.batcher import batcher_of
from cxprism.kit.asgi import FastPath, error_content, read_body, respond
from cxprism.kit.errors import AppError, BadRequest, Conflict, Forbidden, MethodNotAllowed, NotFound

log = logging.getLogger("cxprism.conversations")
PREFIX = "/hooks/"
FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 1000


class ProviderHooks(FastPath):
    """Answers ``/hooks/...``; passes everything else on to ``app``."""

    prefix = PREFIX

    async def handle(self, scope: Scope, receive: Receive, send: Send,
                     headers: dict[str, str], request_id: str) -> None:
        try:
            result = await self._answer(scope, receive, headers)
            await respond(send, result.status_code, result.body, request_id,
                          content_type=result.content_type)
        except AppError as exc:
            await respond(send, exc.status_code, error_content(exc.code, exc.message,
                                                               exc.details), request_id)
        except Exception:
            log.exception("provider webhook %s failed (request %s)", scope["path"], request_id)
            await respond(send, 500, error_content(
                "internal_error", "Something went wrong on our side; retry the request.",
                {"request_id": request_id}), request_id)

    async def _answer(self, scope: Scope, receive: Receive,
                      headers: dict[str, str]) -> WebhookResult:
        kind, channel_id = _target(scope["path"])
        if scope["method"] not in ("GET", "POST"):
            raise MethodNotAllowed("Provider webhooks take GET or POST.")
        body = await read_body(receive, self.max_bytes)
        state = scope.get("app", self.app).state  # in front of the app, or its middleware
        return await provider_webhook(state, kind, channel_id,
                                      _webhook_request(state, scope, headers, body))


async def provider_webhook(state: Any, kind: str, channel_id: uuid.UUID,
                           webhook: WebhookRequest) -> WebhookResult:
    """Verify, parse and store one provider request; what to answer the provider."""
    try:
        connector = registry.webhook(kind)
    except UnknownChannelKind:
        connector = None
    channel = await channel_cache_of(state).by_id(kind, channel_id) if (
        connector is not None) else None
    if connector is None or channel is None:
        raise NotFound("No active channel receives webhooks here.")
    try:
        result = connector.handle_webhook(channel.config, webhook)
    except SignatureInvalid as exc:
        raise Forbidden(f"The webhook signature is not valid: {exc}",
                        code="invalid_signature") from None
    except PayloadInvalid as exc:
        raise BadRequest(f"The webhook payload cannot be read: {exc}",
                         code="invalid_payload") from None
    if result.messages or result.statuses:
        try:
            await batcher_of(state).store([(channel, result)])
        except PayloadInvalid as exc:
            raise BadRequest(f"The webhook payload cannot be stored: {exc}",
                             code="invalid_payload") from None
        except IntegrityError:  # the same item committed by a concurrent delivery
            raise Conflict("This delivery raced another with the same items; send it again.",
                           code="concurrent_change") from None
    return result


def _target(path: str) -> tuple[str, uuid.UUID]:
    """``kind`` and channel id of ``/hooks/{kind}/{channel_id}``; 404 for anything else."""
    parts = path[len(PREFIX):].rstrip("/").split("/")
    if len(parts) == 2 and parts[0]:
        try:
            return parts[0], uuid.UUID(parts[1])
        except ValueError:
            pass
    raise NotFound("No active channel receives webhooks here.")


def _webhook_request(state: Any, scope: Scope, headers: dict[str, str],
                     body: bytes) -> WebhookRequest:
    # The URL the provider called, from the configured base URL: signatures cover it.
    query = scope.get("query_string", b"").decode("latin-1")
    url = state.settings.base_url.rstrip("/") + scope["path"] + (f"?{query}" if query else "")
    form: list[tuple[str, str]] = []
    if headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                             max_num_fields=MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"The form body cannot be read: {exc}",
                             code="invalid_payload") from None
    return WebhookRequest(method=scope["method"], url=url, headers=headers, body=body,
                          query=parse_qsl(query, keep_blank_values=True), form=form)
