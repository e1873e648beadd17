"""Finding a message at Twilio after a lost answer, through its Message list resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from cxprism.channels.protocol import ANSWER_LOST, OutboundMessage, SendError, TemplateRef
from cxprism.channels.twilio import TwilioSmsConnector
from tests.channels.twilio.helpers import CUSTOMER, sms_config
from tests.fixtures.fake_twilio import FAKE_SERVICE_SID, FakeTwilio

SMS = TwilioSmsConnector()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
        yield client


async def test_a_message_twilio_has_is_found_and_one_it_lacks_is_not(
        fake_twilio: FakeTwilio, http: httpx.AsyncClient) -> None:
    config = sms_config(api_base=fake_twilio.base_url)
    began = datetime.now(UTC)
    sent = await SMS.send(config, OutboundMessage(to=CUSTOMER, text="Code 1234"), http)
    await SMS.send(config, OutboundMessage(to="+14155550999", text="Code 9999"), http)
    found = await SMS.lookup(config, OutboundMessage(to=CUSTOMER, text="Code 1234"), began, http)
    assert found is not None and found.external_id == sent.external_id
    missing = await SMS.lookup(config, OutboundMessage(to=CUSTOMER, text="Code 9999"), began,
                               http)
    assert missing is None  # same body, another recipient: not ours
    later = await SMS.lookup(config, OutboundMessage(to=CUSTOMER, text="Code 1234"),
                             began + timedelta(hours=1), http)
    assert later is None  # only messages created after the send began count


async def test_what_cannot_be_matched_stays_unknown(fake_twilio: FakeTwilio,
                                                    http: httpx.AsyncClient) -> None:
    began = datetime.now(UTC)
    template = OutboundMessage(to=CUSTOMER, text="", template=TemplateRef("HX" + "a" * 32,
                                                                          "en", []))
    with pytest.raises(SendError) as raised:
        await SMS.lookup(sms_config(api_base=fake_twilio.base_url), template, began, http)
    assert raised.value.code == ANSWER_LOST and "template" in str(raised.value)
    service = sms_config(api_base=fake_twilio.base_url, messaging_service_sid=FAKE_SERVICE_SID)
    with pytest.raises(SendError) as raised:
        await SMS.lookup(service, OutboundMessage(to=CUSTOMER, text="x"), began, http)
    assert raised.value.code == ANSWER_LOST and "Messaging Service" in str(raised.value)
    wrong = sms_config(api_base=fake_twilio.base_url, auth_token="f" * 32)
    with pytest.raises(SendError) as raised:
        await SMS.lookup(wrong, OutboundMessage(to=CUSTOMER, text="x"), began, http)
    assert "HTTP 401" in str(raised.value)
