"""The Twilio messaging connectors: ``twilio_sms`` and ``twilio_whatsapp``.

Both receive Twilio's incoming-message webhooks and status callbacks at
``/hooks/{kind}/{channel_id}`` (set that URL as the number's "A message comes in" webhook
and as the channel's ``status_callback_url``) and send through the Messages API. They
differ in the number they own and in WhatsApp's ``whatsapp:`` address prefix.

WhatsApp's 24-hour rule is not checked here (a connector does not know when the customer
last wrote): the outbound service calls
:func:`cxprism.channels.whatsapp.window.check_whatsapp_send` before queueing the send.
"""

from __future__ import annotations

from datetime import datetime
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
from cxprism.channels.twilio import inbound
from cxprism.channels.twilio.config import TwilioConfig, TwilioSmsConfig, TwilioWhatsAppConfig
from cxprism.channels.twilio.lookup import find_message
from cxprism.channels.twilio.send import send_message
from cxprism.channels.twilio.webhook import twiml_result, verified_fields


class _TwilioMessaging:
    """What SMS and WhatsApp share; subclasses name their kind, model and number."""

    whatsapp: ClassVar[bool] = False
    secret_fields: ClassVar[frozenset[str]] = frozenset({"auth_token"})

    def _number(self, config: TwilioConfig) -> str | None:
        return config.whatsapp_number if self.whatsapp else config.phone_number

    def address_of(self, config: BaseModel) -> str:
        number = self._number(config_as(config, TwilioConfig))
        if number is None:
            raise ValueError("the channel's configuration has no number")
        return number

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return first_address(addresses, "phone")

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        return await send_message(config_as(config, TwilioConfig), message, http,
                                  whatsapp=self.whatsapp)

    async def lookup(self, config: BaseModel, message: OutboundMessage, since: datetime,
                     http: httpx.AsyncClient) -> SendResult | None:
        """After a lost answer: the message Twilio has for this send, if any."""
        return await find_message(config_as(config, TwilioConfig), message, since, http,
                                  whatsapp=self.whatsapp)

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        twilio = config_as(config, TwilioConfig)
        fields = verified_fields(twilio.auth_token, request)
        account = fields.get("AccountSid")
        if account is not None and account.lower() != twilio.account_sid.lower():
            raise PayloadInvalid("the request belongs to another Twilio account")
        if inbound.is_status_callback(fields):
            update = inbound.status_update(fields)
            return twiml_result(statuses=[update] if update is not None else [])
        if inbound.is_inbound_message(fields):
            return twiml_result(messages=[inbound.inbound_message(fields,
                                                                  whatsapp=self.whatsapp)])
        raise PayloadInvalid("the request is neither an incoming message (MessageSid with "
                             "Body or NumMedia) nor a status callback (MessageStatus)")


class TwilioSmsConnector(_TwilioMessaging):
    kind: ClassVar[str] = "twilio_sms"
    config_model: ClassVar[type[BaseModel]] = TwilioSmsConfig


class TwilioWhatsAppConnector(_TwilioMessaging):
    kind: ClassVar[str] = "twilio_whatsapp"
    config_model: ClassVar[type[BaseModel]] = TwilioWhatsAppConfig
    whatsapp: ClassVar[bool] = True
