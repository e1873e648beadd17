"""Channel URLs are held to the SSRF rules: refused when configured, and a send the guard
refuses fails for good, having reached nothing (a real listener counts connections)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import pytest
from pydantic import BaseModel, ValidationError

from cxprism.channels.destinations import stored_context
from cxprism.channels.protocol import UNSAFE_DESTINATION, Connector, OutboundMessage, SendError
from cxprism.channels.social import SocialConfig, SocialConnector
from cxprism.channels.twilio import (
    TwilioSmsConfig,
    TwilioSmsConnector,
    TwilioWhatsAppConfig,
    TwilioWhatsAppConnector,
)
from cxprism.channels.whatsapp.config import WhatsAppCloudConfig
from cxprism.channels.whatsapp.connector import WhatsAppCloudConnector
from cxprism.config import get_settings
from cxprism.kit.safe_http import safe_client
from tests.channels.ssrf import (
    UNSAFE_URLS,
    URL_FIELDS,
    config_with,
    listening,
    production_allowlist,
)

__all__ = ["production_allowlist"]

MODELS: dict[str, type[BaseModel]] = {
    "twilio_sms": TwilioSmsConfig, "twilio_whatsapp": TwilioWhatsAppConfig,
    "whatsapp_cloud": WhatsAppCloudConfig, "social": SocialConfig}
LOCAL = ["127.0.0.1/32"]
PROVIDER_NAME = "provider.test"  # a name the tests' resolver turns into 127.0.0.1


@pytest.mark.usefixtures("production_allowlist")
@pytest.mark.parametrize(("url", "why"), UNSAFE_URLS)
@pytest.mark.parametrize(("kind", "field"), URL_FIELDS)
def test_every_url_field_refuses_unsafe_addresses(kind: str, field: str, url: str,
                                                  why: str) -> None:
    with pytest.raises(ValidationError) as caught:
        MODELS[kind].model_validate(config_with(kind, **{field: url}))
    [error] = caught.value.errors()
    assert error["loc"] == (field,)
    assert why in error["msg"]


@pytest.mark.parametrize(("url", "why"), UNSAFE_URLS[:4])
def test_the_tests_allowlist_opens_nothing_but_127_0_0_1(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(why)):
        TwilioSmsConfig.model_validate(config_with("twilio_sms", api_base=url))


def test_the_allowlist_comes_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    local = config_with("twilio_sms", api_base="http://127.0.0.1:9")
    assert TwilioSmsConfig.model_validate(local).api_base == "http://127.0.0.1:9"
    monkeypatch.setattr(get_settings(), "outbound_http_allow", "")
    with pytest.raises(ValidationError, match="loopback"):
        TwilioSmsConfig.model_validate(local)


@pytest.mark.parametrize(("kind", "field"), URL_FIELDS)
def test_a_stored_configuration_is_not_checked_again(kind: str, field: str) -> None:
    """Opening a saved channel must not fail on its URLs; its sends are refused instead."""
    raw = config_with(kind, **{field: "https://169.254.169.254/x"})
    with pytest.raises(ValidationError):
        MODELS[kind].model_validate(raw)
    opened = MODELS[kind].model_validate(raw, context=stored_context())
    assert getattr(opened, field).startswith("https://169.254.169.254")


# --- sends -------------------------------------------------------------------------------

SENDS: dict[str, tuple[Connector, str, str]] = {  # connector, URL field, a recipient
    "twilio_sms": (TwilioSmsConnector(), "api_base", "+14155550100"),
    "twilio_whatsapp": (TwilioWhatsAppConnector(), "api_base", "+14155550100"),
    "whatsapp_cloud": (WhatsAppCloudConnector(), "graph_base", "4915112345678"),
    "social": (SocialConnector(), "reply_url", "jane_doe"),
}


async def _to_loopback(host: str, port: int) -> Sequence[str]:
    assert host == PROVIDER_NAME
    return ["127.0.0.1"]


async def _send(kind: str, host: str, port: int, allow: list[str]) -> SendError:
    connector, field, to = SENDS[kind]
    # https for every kind: the guard decides before any TLS, and social requires it.
    raw = config_with(kind, **{field: f"https://{host}:{port}/replies"})
    config = MODELS[kind].model_validate(raw)  # 127.0.0.1 passes the tests' allowlist
    message = OutboundMessage(to=to, text="Your order shipped", idempotency_key="msg-1")
    async with safe_client(allow=allow, resolver=_to_loopback, timeout=5.0) as http:
        with pytest.raises(SendError) as caught:
            await connector.send(config, message, http)
    return caught.value


@pytest.mark.parametrize("host", ["127.0.0.1", PROVIDER_NAME])
@pytest.mark.parametrize("kind", SENDS)
async def test_a_refused_destination_fails_for_good_and_reaches_nothing(
        kind: str, host: str) -> None:
    async with listening() as listener:
        error = await _send(kind, host, listener.port, allow=[])
        assert await listener.settled_connections() == 0
    assert (error.transient, error.code) == (False, UNSAFE_DESTINATION)
    assert host in str(error) and "a loopback address" in str(error)


@pytest.mark.parametrize("kind", SENDS)
async def test_the_same_send_allowed_does_reach_the_listener(kind: str) -> None:
    """The control: with 127.0.0.1 allowed the listener is reached (and hangs up), so a
    zero count above means the guard stopped the send, not that nothing could arrive."""
    async with listening() as listener:
        error = await _send(kind, "127.0.0.1", listener.port, allow=LOCAL)
        assert await listener.settled_connections() == 1
    assert error.transient and error.code != UNSAFE_DESTINATION

