"""Provider webhooks: ``/hooks/{kind}/{channel_id}``, authenticated by their signatures.

There is no API key here: the connector verifies the provider's signature with the
channel's secret before anything is parsed, and a request that fails gets 403 and
changes nothing. Replays are harmless (inbound items deduplicate by provider id).
Concurrent webhooks are committed together (conversations.batcher); each is answered
only once its items are committed.
"""

from __future__ import annotations

import uuid
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from sqlalchemy.exc import IntegrityError

from cxprism.channels.cache import channel_cache_of
from cxprism.channels.protocol import (
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from cxprism.channels.registry import UnknownChannelKind, registry
from cxprism.conversations.batcher import batcher_of
from cxprism.kit.errors import BadRequest, Conflict, Forbidden, NotFound

router = APIRouter(tags=["webhooks in"], include_in_schema=False)
FORM = "application/x-www-form-urlencoded"
MAX_FORM_FIELDS = 1000


@router.api_route("/hooks/{kind}/{channel_id}", methods=["GET", "POST"])
async def provider_webhook(kind: str, channel_id: uuid.UUID, request: Request) -> Response:
    try:
        connector = registry.webhook(kind)
    except UnknownChannelKind:
        connector = None
    channel = await channel_cache_of(request.app.state).by_id(kind, channel_id) if (
        connector is not None) else None
    if connector is None or channel is None:
        raise NotFound("No active channel receives webhooks here.")
    webhook = await _webhook_request(request)
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
            await batcher_of(request.app.state).store([(channel, result)])
        except PayloadInvalid as exc:
            raise BadRequest(f"The webhook payload cannot be stored: {exc}",
                             code="invalid_payload") from None
        except IntegrityError:  # the same item committed by a concurrent delivery
            raise Conflict("This delivery raced another with the same items; send it again.",
                           code="concurrent_change") from None
    return Response(result.body, status_code=result.status_code, media_type=result.content_type)


async def _webhook_request(request: Request) -> WebhookRequest:
    body = await request.body()
    base = request.app.state.settings.base_url.rstrip("/")
    url = base + request.url.path + (f"?{request.url.query}" if request.url.query else "")
    form: list[tuple[str, str]] = []
    if request.headers.get("content-type", "").split(";")[0].strip().lower() == FORM:
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
                             max_num_fields=MAX_FORM_FIELDS)
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadRequest(f"The form body cannot be read: {exc}",
                             code="invalid_payload") from None
    return WebhookRequest(method=request.method, url=url,
                          headers={k.lower(): v for k, v in request.headers.items()},
                          body=body, query=list(request.query_params.multi_items()), form=form)
