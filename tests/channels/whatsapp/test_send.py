from __future__ import annotations

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
from cxprism.channels.whatsapp import WhatsAppCloudConfig, WhatsAppCloudConnector
from tests.channels.whatsapp.helpers import WA_ID
from tests.fixtures.fake_meta import FAKE_ACCESS_TOKEN, FAKE_PHONE_NUMBER_ID, FakeMeta

CLOUD = WhatsAppCloudConnector()
CUSTOMER = "+" + WA_ID
REPLY_TO = "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
        yield client


def config_for(fake: FakeMeta, **overrides: str) -> WhatsAppCloudConfig:
    return WhatsAppCloudConfig.model_validate(fake.config(**overrides))


async def test_text_reply(fake_meta: FakeMeta, http: httpx.AsyncClient) -> None:
    message = OutboundMessage(to=CUSTOMER, text="It comes in blue and red.",
                              in_reply_to=REPLY_TO)
    result = await CLOUD.send(config_for(fake_meta), message, http)
    assert result.external_id.startswith("wamid.")
    assert result.status is DeliveryStatus.SENT
    [call] = fake_meta.requests
    assert call.path == f"/v21.0/{FAKE_PHONE_NUMBER_ID}/messages"
    assert call.headers["authorization"] == f"Bearer {FAKE_ACCESS_TOKEN}"
    assert call.json == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
        "type": "text", "text": {"body": "It comes in blue and red.", "preview_url": False},
        "context": {"message_id": REPLY_TO}}


async def test_template(fake_meta: FakeMeta, http: httpx.AsyncClient) -> None:
    template = TemplateRef(name="order_update", language="en-US", parameters=["Ana", "#1234"])
    await CLOUD.send(config_for(fake_meta, api_version="v20.0"),
                     OutboundMessage(to=CUSTOMER, text="", template=template), http)
    [call] = fake_meta.requests
    assert call.path == f"/v20.0/{FAKE_PHONE_NUMBER_ID}/messages"
    assert call.json == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": WA_ID,
        "type": "template", "template": {
            "name": "order_update", "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": "Ana"}, {"type": "text", "text": "#1234"}]}]}}


async def test_template_without_parameters(fake_meta: FakeMeta,
                                           http: httpx.AsyncClient) -> None:
    template = TemplateRef(name="hello_world", language="en_US")
    await CLOUD.send(config_for(fake_meta), OutboundMessage(to=CUSTOMER, text="ignored",
                                                            template=template), http)
    assert fake_meta.requests[0].json["template"] == {"name": "hello_world",
                                                      "language": {"code": "en_US"}}


async def test_media_by_link(fake_meta: FakeMeta, http: httpx.AsyncClient) -> None:
    pdf = Attachment("invoice.pdf", "application/pdf", url="https://cdn.example.com/i.pdf")
    await CLOUD.send(config_for(fake_meta), OutboundMessage(to=CUSTOMER, text="Your invoice",
                                                            attachments=[pdf]), http)
    assert fake_meta.requests[0].json["type"] == "document"
    assert fake_meta.requests[0].json["document"] == {
        "link": "https://cdn.example.com/i.pdf", "caption": "Your invoice",
        "filename": "invoice.pdf"}


@pytest.mark.parametrize(("message", "code"), [
    (OutboundMessage(to="12", text="hi"), "invalid_recipient"),
    (OutboundMessage(to=CUSTOMER, text=""), "empty_message"),
    (OutboundMessage(to=CUSTOMER, text="hi", attachments=[
        Attachment("a.png", "image/png", data=b"png")]), "unsupported_attachments"),
    (OutboundMessage(to=CUSTOMER, text="listen", attachments=[
        Attachment("a.ogg", "audio/ogg", url="https://cdn.example.com/a.ogg")]),
     "unsupported_attachments"),
])
async def test_refused_before_calling_meta(fake_meta: FakeMeta, http: httpx.AsyncClient,
                                           message: OutboundMessage, code: str) -> None:
    with pytest.raises(SendError) as caught:
        await CLOUD.send(config_for(fake_meta), message, http)
    assert (caught.value.transient, caught.value.code) == (False, code)
    assert fake_meta.requests == []


async def test_outside_the_window_is_permanent(fake_meta: FakeMeta,
                                               http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=400, code=131047, message="Re-engagement message")
    with pytest.raises(SendError) as caught:
        await CLOUD.send(config_for(fake_meta), OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert (caught.value.transient, caught.value.code) == (False, "131047")
    assert "Re-engagement message" in str(caught.value)


async def test_a_bad_token_is_permanent(fake_meta: FakeMeta, http: httpx.AsyncClient) -> None:
    config = config_for(fake_meta, access_token="EAAGwrong" + "x" * 20)
    with pytest.raises(SendError) as caught:
        await CLOUD.send(config, OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert (caught.value.transient, caught.value.code) == (False, "190")


async def test_throughput_limit_is_transient_even_as_400(fake_meta: FakeMeta,
                                                         http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=400, code=130429, message="Rate limit hit")
    with pytest.raises(SendError) as caught:
        await CLOUD.send(config_for(fake_meta), OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert caught.value.transient and caught.value.code == "130429"


async def test_429_with_retry_after(fake_meta: FakeMeta, http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=429, code=80007, message="Rate limit issues", retry_after=30)
    with pytest.raises(SendError) as caught:
        await CLOUD.send(config_for(fake_meta), OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert caught.value.transient and caught.value.retry_after == 30.0


async def test_500_then_success(fake_meta: FakeMeta, http: httpx.AsyncClient) -> None:
    fake_meta.fail_next(status=500)
    message = OutboundMessage(to=CUSTOMER, text="hi")
    with pytest.raises(SendError) as caught:
        await CLOUD.send(config_for(fake_meta), message, http)
    assert caught.value.transient
    assert (await CLOUD.send(config_for(fake_meta), message, http)).external_id


async def test_connection_refused_is_transient(http: httpx.AsyncClient) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = WhatsAppCloudConfig.model_validate(
        FakeMeta().config(graph_base=f"http://127.0.0.1:{port}"))
    with pytest.raises(SendError) as caught:
        await CLOUD.send(config, OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert caught.value.transient and caught.value.code == "network"


async def test_an_unreadable_success_is_not_retried() -> None:
    def odd(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"messaging_product": "whatsapp", "messages": []})

    config = WhatsAppCloudConfig.model_validate(FakeMeta().config(
        graph_base="https://graph.facebook.com"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(odd)) as client:
        with pytest.raises(SendError) as caught:
            await CLOUD.send(config, OutboundMessage(to=CUSTOMER, text="hi"), client)
    assert not caught.value.transient and caught.value.code == "unknown_outcome"
