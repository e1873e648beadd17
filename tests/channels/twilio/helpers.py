"""Signed Twilio webhook requests, shaped as the hooks route builds them."""

from __future__ import annotations

from urllib.parse import urlencode

from cxprism.channels.protocol import WebhookRequest
from cxprism.channels.twilio.config import (
    TwilioSmsConfig,
    TwilioVoiceConfig,
    TwilioWhatsAppConfig,
)
from cxprism.channels.twilio.signature import twilio_signature
from tests.fixtures.fake_twilio import (
    FAKE_ACCOUNT_SID,
    FAKE_AUTH_TOKEN,
    FAKE_PHONE_NUMBER,
    FAKE_WHATSAPP_NUMBER,
    FakeTwilio,
)

HOOK_URL = "https://cx.example.com/hooks/twilio_sms/8a1c5e9e-3f0b-4a55-9d3e-2f5a6b7c8d9e"
CUSTOMER = "+14155550100"
BUILDER = FakeTwilio()  # only its payload builders: nothing is served


def sms_config(**overrides: object) -> TwilioSmsConfig:
    return TwilioSmsConfig.model_validate({
        "account_sid": FAKE_ACCOUNT_SID, "auth_token": FAKE_AUTH_TOKEN,
        "phone_number": FAKE_PHONE_NUMBER, **overrides})


def whatsapp_config(**overrides: object) -> TwilioWhatsAppConfig:
    return TwilioWhatsAppConfig.model_validate({
        "account_sid": FAKE_ACCOUNT_SID, "auth_token": FAKE_AUTH_TOKEN,
        "whatsapp_number": FAKE_WHATSAPP_NUMBER, **overrides})


def voice_config() -> TwilioVoiceConfig:
    return TwilioVoiceConfig(account_sid=FAKE_ACCOUNT_SID, auth_token=FAKE_AUTH_TOKEN,
                             phone_number=FAKE_PHONE_NUMBER)


def signed(params: list[tuple[str, str]], *, url: str = HOOK_URL,
           token: str = FAKE_AUTH_TOKEN, signature: str | None = None,
           method: str = "POST") -> WebhookRequest:
    body = urlencode(params, errors="surrogatepass").encode()
    headers = {"content-type": "application/x-www-form-urlencoded",
               "x-twilio-signature": signature or twilio_signature(token, url, params)}
    return WebhookRequest(method=method, url=url, headers=headers, body=body, form=params)
