from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cxprism.channels.protocol import Address, WebhookConnector
from cxprism.channels.twilio import (
    TwilioSmsConfig,
    TwilioSmsConnector,
    TwilioVoiceConnector,
    TwilioWhatsAppConfig,
    TwilioWhatsAppConnector,
)
from tests.channels.twilio.helpers import sms_config, voice_config, whatsapp_config
from tests.fixtures.fake_twilio import FAKE_AUTH_TOKEN, FAKE_PHONE_NUMBER, FAKE_WHATSAPP_NUMBER


def test_connectors_speak_the_protocol() -> None:
    for connector in (TwilioSmsConnector(), TwilioWhatsAppConnector(), TwilioVoiceConnector()):
        assert isinstance(connector, WebhookConnector)
        assert connector.secret_fields == frozenset({"auth_token"})
    assert [c.kind for c in (TwilioSmsConnector, TwilioWhatsAppConnector,
                             TwilioVoiceConnector)] == ["twilio_sms", "twilio_whatsapp",
                                                        "twilio_voice"]


def test_addresses() -> None:
    assert TwilioSmsConnector().address_of(sms_config()) == FAKE_PHONE_NUMBER
    assert TwilioWhatsAppConnector().address_of(whatsapp_config()) == FAKE_WHATSAPP_NUMBER
    assert TwilioVoiceConnector().address_of(voice_config()) == FAKE_PHONE_NUMBER
    identities = [Address("email", "ana@example.com"), Address("phone", "+14155550100"),
                  Address("phone", "+14155550101")]
    assert TwilioSmsConnector().recipient_of(sms_config(), identities) == "+14155550100"
    assert TwilioWhatsAppConnector().recipient_of(whatsapp_config(), identities[:1]) is None


def test_the_token_stays_out_of_reprs() -> None:
    assert FAKE_AUTH_TOKEN not in repr(sms_config())
    assert FAKE_AUTH_TOKEN in sms_config().model_dump_json()  # the service encrypts it


@pytest.mark.parametrize("overrides", [
    {"account_sid": "AC123"},
    {"auth_token": "short"},
    {"phone_number": "4155550100"},
    {"phone_number": None},
    {"api_base": "http://api.twilio.com"},
    {"api_base": "https://user:pw@api.twilio.com"},
    {"api_base": "https://api.twilio.com?x=1"},
    {"status_callback_url": "javascript:alert(1)"},
    {"messaging_service_sid": "MG1"},
    {"unknown": "field"},
])
def test_invalid_sms_configs(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        sms_config(**overrides)


def test_each_connector_needs_its_own_number() -> None:
    base = {"account_sid": "AC" + "a" * 32, "auth_token": "b" * 32}
    with pytest.raises(ValidationError, match="whatsapp_number"):
        TwilioWhatsAppConfig.model_validate({**base, "phone_number": FAKE_PHONE_NUMBER})
    config = TwilioSmsConfig.model_validate({**base, "phone_number": " +15005550006 ",
                                             "api_base": "http://127.0.0.1:9999/"})
    assert config.phone_number == FAKE_PHONE_NUMBER
    assert config.api_base == "http://127.0.0.1:9999"
