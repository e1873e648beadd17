"""A Twilio channel's configuration: the account, its auth token and the number it owns.

One model serves SMS and WhatsApp; each connector requires its own number
(``phone_number`` for SMS, ``whatsapp_number`` for WhatsApp). ``auth_token`` is a plain
``str`` with ``repr=False``, like every channel secret: the channels service dumps the
configuration as JSON to encrypt the secret fields, which a ``SecretStr`` would mask.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from cxprism.channels.whatsapp.fields import E164, ApiBase, WebUrl, pattern

AccountSid = Annotated[str, StringConstraints(strip_whitespace=True),
                       pattern(r"AC[0-9a-fA-F]{32}", "a Twilio account SID: AC and 32 hex digits")]
ServiceSid = Annotated[str, StringConstraints(strip_whitespace=True),
                       pattern(r"MG[0-9a-fA-F]{32}",
                               "a messaging service SID: MG and 32 hex digits")]
AuthToken = Annotated[str, StringConstraints(strip_whitespace=True),
                      pattern(r"[A-Za-z0-9]{16,128}", "the account's auth token")]


class TwilioConfig(BaseModel):
    """``status_callback_url`` is where Twilio reports deliveries: this channel's hook URL.

    With ``messaging_service_sid`` set, sends go through the messaging service (which
    picks the sender from its pool); otherwise from the channel's own number.
    ``api_base`` is Twilio's API origin; tests point it at a local fake.
    """

    model_config = ConfigDict(extra="forbid")

    account_sid: AccountSid
    auth_token: AuthToken = Field(repr=False)
    phone_number: E164 | None = None
    whatsapp_number: E164 | None = None
    messaging_service_sid: ServiceSid | None = None
    status_callback_url: WebUrl | None = None
    api_base: ApiBase = "https://api.twilio.com"


class TwilioSmsConfig(TwilioConfig):
    @model_validator(mode="after")
    def _needs_phone_number(self) -> TwilioSmsConfig:
        if self.phone_number is None:
            raise ValueError("phone_number is required for an SMS channel")
        return self


class TwilioWhatsAppConfig(TwilioConfig):
    @model_validator(mode="after")
    def _needs_whatsapp_number(self) -> TwilioWhatsAppConfig:
        if self.whatsapp_number is None:
            raise ValueError("whatsapp_number is required for a WhatsApp channel")
        return self


class TwilioVoiceConfig(BaseModel):
    """A voice channel only receives call status callbacks; it needs no sending fields."""

    model_config = ConfigDict(extra="forbid")

    account_sid: AccountSid
    auth_token: AuthToken = Field(repr=False)
    phone_number: E164
