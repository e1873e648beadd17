from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from cxprism.channels.protocol import (
    Attachment,
    DeliveryStatus,
    OutboundMessage,
    SendError,
    TemplateRef,
)
from cxprism.channels.twilio import TwilioSmsConnector, TwilioWhatsAppConnector
from tests.channels.twilio.helpers import CUSTOMER, sms_config, whatsapp_config
from tests.fixtures.fake_twilio import (
    FAKE_PHONE_NUMBER,
    FAKE_SERVICE_SID,
    FAKE_WHATSAPP_NUMBER,
    FakeTwilio,
)

SMS = TwilioSmsConnector()
WHATSAPP = TwilioWhatsAppConnector()
CONTENT_SID = "HX" + "b" * 32
CALLBACK = "https://cx.example.com/hooks/twilio_sms/8a1c5e9e-3f0b-4a55-9d3e-2f5a6b7c8d9e"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
        yield client


async def test_sms_send(fake_twilio: FakeTwilio, http: httpx.AsyncClient) -> None:
    config = sms_config(api_base=fake_twilio.base_url, status_callback_url=CALLBACK)
    message = OutboundMessage(to=CUSTOMER, text="Your order shipped 📦",
                              idempotency_key="msg-42")
    result = await SMS.send(config, message, http)
    assert result.external_id.startswith("SM") and len(result.external_id) == 34
    assert result.status is DeliveryStatus.SENT
    assert result.details["status"] == "queued"
    [request] = fake_twilio.requests
    assert request.path.endswith(f"/Accounts/{config.account_sid}/Messages.json")
    assert request.form == [("To", CUSTOMER), ("From", FAKE_PHONE_NUMBER),
                            ("Body", "Your order shipped 📦"), ("StatusCallback", CALLBACK)]
    assert request.headers["i-twilio-idempotency-token"] == "msg-42"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"


async def test_whatsapp_text_and_media_use_prefixed_addresses(
        fake_twilio: FakeTwilio, http: httpx.AsyncClient) -> None:
    config = whatsapp_config(api_base=fake_twilio.base_url)
    photo = Attachment("label.png", "image/png", url="https://cdn.example.com/label.png")
    await WHATSAPP.send(config, OutboundMessage(to=CUSTOMER, text="Your label",
                                                attachments=[photo]), http)
    [request] = fake_twilio.requests
    assert request.field("To") == f"whatsapp:{CUSTOMER}"
    assert request.field("From") == f"whatsapp:{FAKE_WHATSAPP_NUMBER}"
    assert request.fields("MediaUrl") == ["https://cdn.example.com/label.png"]


async def test_whatsapp_template_uses_the_content_api(fake_twilio: FakeTwilio,
                                                      http: httpx.AsyncClient) -> None:
    config = whatsapp_config(api_base=fake_twilio.base_url)
    template = TemplateRef(name=CONTENT_SID, language="en", parameters=["Ana", "#1234"])
    await WHATSAPP.send(config, OutboundMessage(to=CUSTOMER, text="", template=template), http)
    [request] = fake_twilio.requests
    assert request.field("ContentSid") == CONTENT_SID
    assert json.loads(request.field("ContentVariables") or "") == {"1": "Ana", "2": "#1234"}
    assert request.field("Body") is None


async def test_messaging_service_replaces_from(fake_twilio: FakeTwilio,
                                               http: httpx.AsyncClient) -> None:
    config = sms_config(api_base=fake_twilio.base_url, messaging_service_sid=FAKE_SERVICE_SID)
    result = await SMS.send(config, OutboundMessage(to=CUSTOMER, text="hi"), http)
    [request] = fake_twilio.requests
    assert request.field("MessagingServiceSid") == FAKE_SERVICE_SID
    assert request.field("From") is None
    assert result.details["status"] == "accepted"


async def test_400_is_permanent_with_twilios_code(fake_twilio: FakeTwilio,
                                                  http: httpx.AsyncClient) -> None:
    fake_twilio.fail_next(status=400, code=21610,
                          message="Attempt to send to unsubscribed recipient")
    with pytest.raises(SendError) as caught:
        await SMS.send(sms_config(api_base=fake_twilio.base_url),
                       OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert not caught.value.transient
    assert caught.value.code == "21610"
    assert "unsubscribed recipient" in str(caught.value)


async def test_wrong_credentials_are_permanent(fake_twilio: FakeTwilio,
                                               http: httpx.AsyncClient) -> None:
    config = sms_config(api_base=fake_twilio.base_url, auth_token="0" * 32)
    with pytest.raises(SendError) as caught:
        await SMS.send(config, OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert (caught.value.transient, caught.value.code) == (False, "20003")


async def test_429_is_transient_with_retry_after(fake_twilio: FakeTwilio,
                                                 http: httpx.AsyncClient) -> None:
    fake_twilio.fail_next(status=429, code=20429, message="Too Many Requests", retry_after=7)
    with pytest.raises(SendError) as caught:
        await SMS.send(sms_config(api_base=fake_twilio.base_url),
                       OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert caught.value.transient
    assert caught.value.retry_after == 7.0
    assert caught.value.code == "20429"


async def test_500_is_transient_and_the_next_try_succeeds(fake_twilio: FakeTwilio,
                                                          http: httpx.AsyncClient) -> None:
    fake_twilio.fail_next(status=503, code=None, message="Service Unavailable")
    message = OutboundMessage(to=CUSTOMER, text="hi", idempotency_key="msg-7")
    config = sms_config(api_base=fake_twilio.base_url)
    with pytest.raises(SendError) as caught:
        await SMS.send(config, message, http)
    assert caught.value.transient and caught.value.retry_after is None
    assert (await SMS.send(config, message, http)).external_id
    tokens = [r.headers["i-twilio-idempotency-token"] for r in fake_twilio.requests]
    assert tokens == ["msg-7", "msg-7"]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_transient(http: httpx.AsyncClient) -> None:
    config = sms_config(api_base=f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(SendError) as caught:
        await SMS.send(config, OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert caught.value.transient
    assert caught.value.code == "network"


async def test_timeout_is_transient() -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(hang)) as client:
        with pytest.raises(SendError) as caught:
            await SMS.send(sms_config(), OutboundMessage(to=CUSTOMER, text="hi"), client)
    assert caught.value.transient and caught.value.code == "answer_lost"


async def test_an_unreadable_success_is_not_retried() -> None:
    def garbled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, content=b"<html>ok</html>")

    async with httpx.AsyncClient(transport=httpx.MockTransport(garbled)) as client:
        with pytest.raises(SendError) as caught:
            await SMS.send(sms_config(), OutboundMessage(to=CUSTOMER, text="hi"), client)
    assert not caught.value.transient and caught.value.code == "unknown_outcome"


@pytest.mark.parametrize(("message", "code"), [
    (OutboundMessage(to="not a number", text="hi"), "invalid_recipient"),
    (OutboundMessage(to=CUSTOMER, text=""), "empty_message"),
    (OutboundMessage(to=CUSTOMER, text="hi",
                     attachments=[Attachment("a.pdf", "application/pdf", data=b"%PDF")]),
     "attachment_needs_url"),
    (OutboundMessage(to=CUSTOMER, text="", template=TemplateRef("order_update", "en")),
     "invalid_template"),
])
async def test_refused_before_calling_twilio(fake_twilio: FakeTwilio, http: httpx.AsyncClient,
                                             message: OutboundMessage, code: str) -> None:
    config = whatsapp_config(api_base=fake_twilio.base_url)
    with pytest.raises(SendError) as caught:
        await WHATSAPP.send(config, message, http)
    assert (caught.value.transient, caught.value.code) == (False, code)
    assert fake_twilio.requests == []
