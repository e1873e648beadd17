"""The WhatsApp Cloud API connector (``whatsapp_cloud``): Meta's hosted WhatsApp API.

Subscribe the app's webhook (field ``messages``) to ``/hooks/whatsapp_cloud/{channel_id}``
with the channel's verify token. The 24-hour rule is checked by the outbound service with
:func:`cxprism.channels.whatsapp.window.check_whatsapp_send` before a send is queued.
"""

from __future__ import annotations

from typing import ClassVar

import httpx
from pydantic import BaseModel

from cxprism.channels.protocol import (
    Address,
    OutboundMessage,
    PayloadInvalid,
    SendResult,
    WebhookRequest,
    WebhookResult,
    config_as,
    first_address,
)
from cxprism.channels.whatsapp.config import WhatsAppCloudConfig
from cxprism.channels.whatsapp.parse import parse_body, read_notification
from cxprism.channels.whatsapp.send import send_message
from cxprism.channels.whatsapp.signature import (
    SIGNATURE_HEADER,
    subscription_challenge,
    verify_hub_signature,
)

MAX_BODY_BYTES = 4 * 1024 * 1024  # Meta batches up to a thousand changes in one POST



class WhatsAppCloudConnector:
    kind: ClassVar[str] = "whatsapp_cloud"
    config_model: ClassVar[type[BaseModel]] = WhatsAppCloudConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset(
        {"access_token", "app_secret", "verify_token"})

    def address_of(self, config: BaseModel) -> str:
        return config_as(config, WhatsAppCloudConfig).phone_number_id

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return first_address(addresses, "phone")

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        return await send_message(config_as(config, WhatsAppCloudConfig), message, http)

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        cloud = config_as(config, WhatsAppCloudConfig)
        method = request.method.upper()
        if method == "GET":
            challenge = subscription_challenge(cloud.verify_token, request.query)
            return WebhookResult(content_type="text/plain", body=challenge.encode())
        if method != "POST":
            raise PayloadInvalid("Meta's webhooks are a GET handshake and POST notifications")
        if len(request.body) > MAX_BODY_BYTES:
            raise PayloadInvalid(f"the body is larger than {MAX_BODY_BYTES // 2**20} MiB")
        verify_hub_signature(cloud.app_secret, request.body,
                             request.headers.get(SIGNATURE_HEADER))
        notification = parse_body(request.body)
        messages, statuses = read_notification(notification, cloud.phone_number_id,
                                               cloud.display_phone_number)
        return WebhookResult(messages=messages, statuses=statuses)
