"""Signed call records from a contact-centre system, as the voice connector receives them."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from cxprism.channels.protocol import (
    Address,
    ItemKind,
    OutboundMessage,
    PayloadInvalid,
    SendError,
    SignatureInvalid,
    WebhookConnector,
)
from cxprism.channels.voice import VoiceConfig, VoiceConnector
from tests.channels.social.helpers import INBOUND_SECRET, OTHER_SECRET, minutes_ago, signed_request

CONFIG = VoiceConfig(name_of_system="Amazon Connect", phone_number="+14155550199",
                     inbound_secret=INBOUND_SECRET)
connector = VoiceConnector()


def call(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "call_id": "call-8f2e", "direction": "inbound", "from": "+14155550100",
        "to": "+14155550199", "started_at": "2024-05-01T09:30:00Z",
        "ended_at": "2024-05-01T09:33:12Z", "duration_seconds": 192, "status": "completed",
        "agent_email": "Sam@Example.com",
        "recording": {"url": "https://rec.example.com/c.wav", "id": "rec-1",
                      "duration_seconds": 190},
        "transcript": {"language": "en", "turns": [
            {"speaker": "customer", "start": 0.0, "end": 3.2, "text": "My bill is wrong."},
            {"speaker": "agent", "start": 3.5, "end": 6.0, "text": "Let me look."}]},
        "queue": "billing",  # systems add fields of their own
    }
    return base | changes


def receive(body: dict[str, Any] | bytes, secret: str = INBOUND_SECRET) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return connector.handle_webhook(CONFIG, signed_request(raw, secret))


def test_the_connector_speaks_the_webhook_protocol() -> None:
    assert isinstance(connector, WebhookConnector)
    assert connector.kind == "voice"
    assert connector.secret_fields == {"inbound_secret"}
    assert connector.address_of(CONFIG) == "+14155550199"


def test_a_call_with_a_transcript_becomes_one_call_item() -> None:
    result = receive(call())
    assert json.loads(result.body) == {"accepted": 1, "call_id": "call-8f2e"}
    assert result.content_type == "application/json"
    [message] = result.messages
    assert message.kind is ItemKind.CALL
    assert message.external_id == "call-8f2e"
    assert message.sender == [Address(kind="phone", value="+14155550100")]
    assert message.text == "Customer: My bill is wrong.\nAgent: Let me look."
    assert message.sent_at == datetime(2024, 5, 1, 9, 30, tzinfo=UTC)
    assert message.metadata == {
        "direction": "inbound", "duration_seconds": 192, "status": "completed",
        "line": "+14155550199", "ended_at": "2024-05-01T09:33:12+00:00",
        "recording": {"url": "https://rec.example.com/c.wav", "id": "rec-1",
                      "duration_seconds": 190},
        "transcript": {"language": "en", "turns": [
            {"speaker": "customer", "start": 0.0, "end": 3.2, "text": "My bill is wrong."},
            {"speaker": "agent", "start": 3.5, "end": 6.0, "text": "Let me look."}]},
        "agent_email": "sam@example.com", "system": "Amazon Connect"}


def test_an_outbound_call_comes_from_the_number_called() -> None:
    [message] = receive(call(direction="outbound", **{"from": "+14155550199",
                                                      "to": "+447700900123"})).messages
    assert message.sender == [Address(kind="phone", value="+447700900123")]
    assert message.metadata["line"] == "+14155550199"


def test_a_call_without_a_transcript_is_summarised() -> None:
    [message] = receive(call(transcript=None, recording=None, status="missed",
                             duration_seconds=0, ended_at=None)).messages
    assert message.text == "Inbound call, 0 s (missed)"
    assert message.metadata["transcript"] is None
    assert message.metadata["recording"] is None


def test_an_empty_transcript_is_summarised_too() -> None:
    [message] = receive(call(transcript={"language": None, "turns": []})).messages
    assert message.text == "Inbound call, 3 min 12 s (completed)"
    assert message.metadata["transcript"] == {"language": None, "turns": []}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"transcript": {"turns": [{"speaker": "agent", "start": 5, "end": 1, "text": "x"}]}},
     "end before it starts"),
    ({"transcript": {"turns": [{"speaker": "agent", "start": 5, "end": 6, "text": "x"},
                               {"speaker": "agent", "start": 1, "end": 2, "text": "y"}]}},
     "turn 1 starts before turn 0"),
    ({"from": "555-0100"}, "from: must be an E.164"),
    ({"recording": {"url": "javascript:alert(1)"}}, "recording.url"),
    ({"status": "lost"}, "status:"),
])
def test_invalid_records_are_payload_errors_with_a_reason(
        changes: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        receive(call(**changes))


@pytest.mark.parametrize("body", [b"not json", b"[]", b'"call"', b"{" * 50_000])
def test_bodies_that_are_not_a_call_record_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadInvalid):
        receive(body)


def test_an_oversized_body_is_refused() -> None:
    with pytest.raises(PayloadInvalid, match="larger than"):
        receive(b" " * (5 * 1024 * 1024))


def test_bad_or_stale_signatures_are_refused() -> None:
    with pytest.raises(SignatureInvalid):
        receive(call(), OTHER_SECRET)
    stale = signed_request(json.dumps(call()).encode(), at=minutes_ago(6))
    with pytest.raises(SignatureInvalid):
        connector.handle_webhook(CONFIG, stale)
    request = signed_request(json.dumps(call()).encode())
    headers = {k: v for k, v in request.headers.items() if k != "webhook-signature"}
    with pytest.raises(SignatureInvalid):
        connector.handle_webhook(CONFIG, dataclasses.replace(request, headers=headers))


async def test_voice_channels_do_not_send() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(SendError, match="reply on another channel") as caught:
            await connector.send(CONFIG, OutboundMessage(to="+14155550100", text="hi"), client)
    assert caught.value.transient is False


def test_the_recipient_is_the_first_phone_identity() -> None:
    assert connector.recipient_of(CONFIG, [Address("email", "a@example.com"),
                                   Address("phone", "+14155550100"),
                                   Address("phone", "+14155550111")]) == "+14155550100"
    assert connector.recipient_of(CONFIG, []) is None


@pytest.mark.parametrize("changes", [
    {"phone_number": "0415 555 0199"}, {"name_of_system": ""}, {"name_of_system": "x" * 101},
    {"inbound_secret": "secret"}, {"extra": True}])
def test_invalid_configurations_are_refused(changes: dict[str, Any]) -> None:
    values = {"name_of_system": "Genesys", "phone_number": "+14155550199",
              "inbound_secret": INBOUND_SECRET}
    with pytest.raises(ValidationError):
        VoiceConfig.model_validate(values | changes)
