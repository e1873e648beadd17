from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from cxprism.channels.protocol import Address, WebhookConnector
from cxprism.channels.whatsapp import WhatsAppCloudConnector
from tests.channels.whatsapp.helpers import cloud_config
from tests.fixtures.fake_meta import (
    FAKE_ACCESS_TOKEN,
    FAKE_APP_SECRET,
    FAKE_PHONE_NUMBER_ID,
    FAKE_VERIFY_TOKEN,
)


def test_the_connector_speaks_the_protocol() -> None:
    connector = WhatsAppCloudConnector()
    assert isinstance(connector, WebhookConnector)
    assert connector.kind == "whatsapp_cloud"
    assert connector.secret_fields == frozenset({"access_token", "app_secret", "verify_token"})
    assert connector.address_of(cloud_config()) == FAKE_PHONE_NUMBER_ID
    assert connector.recipient_of(cloud_config(), [Address("email", "a@example.com"),
                                   Address("phone", "+16505551234")]) == "+16505551234"


def test_secrets_stay_out_of_reprs() -> None:
    text = repr(cloud_config())
    for secret in (FAKE_ACCESS_TOKEN, FAKE_APP_SECRET, FAKE_VERIFY_TOKEN):
        assert secret not in text


def test_defaults() -> None:
    config = cloud_config(graph_base="https://graph.facebook.com/")
    assert (config.graph_base, config.api_version) == ("https://graph.facebook.com", "v21.0")


@pytest.mark.parametrize("overrides", [
    {"phone_number_id": "+1555"}, {"display_phone_number": "15550783881"},
    {"access_token": "short"}, {"app_secret": "not hex!"}, {"verify_token": "short"},
    {"graph_base": "http://graph.facebook.com"}, {"api_version": "21"},
    {"extra": "field"}])
def test_invalid_configs(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        cloud_config(**overrides)
