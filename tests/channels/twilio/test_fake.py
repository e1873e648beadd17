"""The fake Twilio itself: what end-to-end tests rely on it for."""

from __future__ import annotations

from urllib.parse import parse_qsl

import httpx

from cxprism.channels.protocol import DeliveryStatus, OutboundMessage, WebhookRequest
from cxprism.channels.twilio import TwilioSmsConnector
from tests.channels.twilio.helpers import CUSTOMER, HOOK_URL, sms_config
from tests.fixtures.fake_twilio import FAKE_PHONE_NUMBER, FakeTwilio


def hooks_route(connector: TwilioSmsConnector, received: list[WebhookRequest],
                public_base: str | None = None) -> httpx.MockTransport:
    """What the hooks route does with a request: build a WebhookRequest (its URL from the
    configured public base URL, if given), call the connector."""

    def handle(request: httpx.Request) -> httpx.Response:
        body = request.read()
        url = str(request.url) if public_base is None else public_base + request.url.path
        webhook = WebhookRequest(
            method=request.method, url=url,
            headers={k.lower(): v for k, v in request.headers.items()}, body=body,
            form=parse_qsl(body.decode(), keep_blank_values=True))
        received.append(webhook)
        result = connector.handle_webhook(sms_config(), webhook)
        return httpx.Response(result.status_code, content=result.body,
                              headers={"content-type": result.content_type})

    return httpx.MockTransport(handle)


async def test_status_callbacks_are_signed_as_twilio_signs_them(
        fake_twilio: FakeTwilio) -> None:
    config = sms_config(api_base=fake_twilio.base_url)
    async with httpx.AsyncClient() as http:
        sent = await TwilioSmsConnector().send(config, OutboundMessage(to=CUSTOMER, text="hi"),
                                               http)
    received: list[WebhookRequest] = []
    transport = hooks_route(TwilioSmsConnector(), received)
    async with httpx.AsyncClient(transport=transport) as client:
        answer = await fake_twilio.send_status_callback(client, HOOK_URL, sent.external_id,
                                                        "delivered")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/xml"
    result = TwilioSmsConnector().handle_webhook(sms_config(), received[0])
    assert [(s.external_id, s.status) for s in result.statuses] == [
        (sent.external_id, DeliveryStatus.DELIVERED)]
    assert ("To", CUSTOMER) in received[0].form
    assert ("From", FAKE_PHONE_NUMBER) in received[0].form


async def test_relative_urls_are_signed_with_the_public_url(fake_twilio: FakeTwilio) -> None:
    received: list[WebhookRequest] = []
    public_base = "https://cx.example.com"
    path = HOOK_URL.removeprefix(public_base)
    transport = hooks_route(TwilioSmsConnector(), received, public_base)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        # The app rebuilds the URL from its configured base URL, not the test client's.
        answer = await fake_twilio.post_signed(client, path, fake_twilio.inbound_params("hi"),
                                               signed_url=HOOK_URL)
    assert answer.status_code == 200


async def test_the_api_validates_like_twilio(fake_twilio: FakeTwilio) -> None:
    url = f"{fake_twilio.base_url}/2010-04-01/Accounts/{fake_twilio.account_sid}/Messages.json"
    auth = (fake_twilio.account_sid, fake_twilio.auth_token)
    async with httpx.AsyncClient() as http:
        no_to = await http.post(url, data={"From": FAKE_PHONE_NUMBER, "Body": "x"}, auth=auth)
        no_body = await http.post(url, data={"From": FAKE_PHONE_NUMBER, "To": CUSTOMER},
                                  auth=auth)
        mixed = await http.post(url, data={"From": FAKE_PHONE_NUMBER, "Body": "x",
                                           "To": f"whatsapp:{CUSTOMER}"}, auth=auth)
        anonymous = await http.post(url, data={"From": FAKE_PHONE_NUMBER, "To": CUSTOMER,
                                               "Body": "x"})
    assert (no_to.status_code, no_to.json()["code"]) == (400, 21604)
    assert no_body.json()["code"] == 21602
    assert mixed.json()["code"] == 21910
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, 20003)
    assert len(fake_twilio.requests) == 4 and fake_twilio.messages == {}
