"""The social connector: posts, comments, mentions, reviews and direct messages.

cxprism does not talk to each network's API. The company's social bridge (a publishing
or listening tool, or a small adapter) POSTs items to ``/hooks/social/{channel_id}``,
signed with Standard Webhooks, and receives replies the same way. The body is one item
(see :mod:`cxprism.channels.social.items`) or ``{"items": [...]}`` with at most 500.

The answer is always JSON ``{"accepted": n, "rejected": [{"index": i, "reason": "..."}]}``
once the request is authentic: invalid items are reported and skipped, the valid ones
kept, so one bad item does not make the bridge resend the whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from cxprism.channels.protocol import (
    Address,
    InboundMessage,
    OutboundMessage,
    PayloadInvalid,
    SendResult,
    WebhookRequest,
    WebhookResult,
    config_as,
    first_address,
)
from cxprism.channels.social import signing
from cxprism.channels.social.config import SocialConfig
from cxprism.channels.social.items import ItemRejected, parse_item
from cxprism.channels.social.payloads import parse_json
from cxprism.channels.social.replies import post_reply
from cxprism.kit.clock import utcnow

MAX_ITEMS = 500
MAX_BODY_BYTES = 16 * 1024 * 1024



class SocialConnector:
    kind: ClassVar[str] = "social"
    config_model: ClassVar[type[BaseModel]] = SocialConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"inbound_secret", "reply_secret"})

    def __init__(self, clock: Callable[[], datetime] = utcnow) -> None:
        self._clock = clock

    def address_of(self, config: BaseModel) -> str:
        social = config_as(config, SocialConfig)
        return f"{social.network}:{social.account}"

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        """The customer's handle on this channel's network (not their handle elsewhere)."""
        return first_address(addresses, "social", config_as(config, SocialConfig).network)

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        return await post_reply(config_as(config, SocialConfig), message, http, self._clock())

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        social = config_as(config, SocialConfig)
        if len(request.body) > MAX_BODY_BYTES:
            raise PayloadInvalid(f"the body is larger than {MAX_BODY_BYTES // 2**20} MiB")
        signing.verify(social.inbound_secret, request)
        raw_items = _items_of(parse_json(request.body, MAX_BODY_BYTES))
        messages: list[InboundMessage] = []
        rejected: list[dict[str, Any]] = []
        for index, raw in enumerate(raw_items):
            try:
                messages.append(parse_item(raw, default_network=social.network,
                                           expected_network=social.network))
            except ItemRejected as exc:
                rejected.append({"index": index, "reason": str(exc)})
        answer = {"accepted": len(messages), "rejected": rejected}
        return WebhookResult(messages=messages, content_type="application/json",
                             body=json.dumps(answer).encode())


def _items_of(document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise PayloadInvalid('the body must be a JSON object: one item, or {"items": [...]}')
    if "items" not in document:
        return [document]
    items = document["items"]
    if not isinstance(items, list):
        raise PayloadInvalid('"items" must be a list of items')
    if len(items) > MAX_ITEMS:
        raise PayloadInvalid(f"a batch carries at most {MAX_ITEMS} items, this one {len(items)}")
    return items
