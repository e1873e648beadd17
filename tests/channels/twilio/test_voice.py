from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from cxprism.channels.protocol import (
    Address,
    ItemKind,
    OutboundMessage,
    PayloadInvalid,
    SendError,
    SignatureInvalid,
)
from cxprism.channels.twilio import TwilioVoiceConnector
from cxprism.channels.twilio.voice import duration_words
from cxprism.channels.twilio.webhook import EMPTY_TWIML
from tests.channels.twilio.helpers import CUSTOMER, signed, voice_config
from tests.fixtures.fake_twilio import FAKE_ACCOUNT_SID, FAKE_PHONE_NUMBER

VOICE = TwilioVoiceConnector()
CALL_SID = "CA" + "3c" * 16
RECORDING_SID = "RE" + "4d" * 16
RECORDING_URL = (f"https://api.twilio.com/2010-04-01/Accounts/{FAKE_ACCOUNT_SID}/"
                 f"Recordings/{RECORDING_SID}")


def callback(status: str, *, direction: str = "inbound", duration: str | None = "192",
             caller: str = CUSTOMER, called: str = FAKE_PHONE_NUMBER,
             recording: bool = False) -> list[tuple[str, str]]:
    """A call status callback with the fields Twilio documents."""
    params = [("AccountSid", FAKE_ACCOUNT_SID), ("ApiVersion", "2010-04-01"),
              ("CallSid", CALL_SID), ("CallStatus", status), ("Called", called),
              ("Caller", caller), ("CallbackSource", "call-progress-events"),
              ("Direction", direction), ("From", caller), ("SequenceNumber", "3"),
              ("Timestamp", "Tue, 18 Jun 2024 10:30:00 +0000"), ("To", called)]
    if duration is not None:
        params += [("CallDuration", duration), ("Duration", "4")]
    if recording:
        params += [("RecordingSid", RECORDING_SID), ("RecordingUrl", RECORDING_URL)]
    return params


def test_completed_inbound_call() -> None:
    result = VOICE.handle_webhook(voice_config(), signed(callback("completed", recording=True)))
    assert result.body == EMPTY_TWIML and result.content_type == "text/xml"
    [call] = result.messages
    assert call.kind is ItemKind.CALL
    assert call.external_id == CALL_SID
    assert call.sender == [Address("phone", CUSTOMER)]
    assert call.text == "Inbound call, 3 min 12 s"
    assert call.sent_at == datetime(2024, 6, 18, 10, 30, tzinfo=UTC)
    assert call.metadata == {
        "network": "voice", "direction": "inbound", "twilio_direction": "inbound",
        "duration_seconds": 192, "status": "completed", "recording_url": RECORDING_URL,
        "recording_sid": RECORDING_SID}


@pytest.mark.parametrize("direction", ["outbound-api", "outbound-dial"])
def test_outbound_call_is_filed_under_the_called_customer(direction: str) -> None:
    params = callback("completed", direction=direction, duration="45",
                      caller=FAKE_PHONE_NUMBER, called=CUSTOMER)
    [call] = VOICE.handle_webhook(voice_config(), signed(params)).messages
    assert call.sender == [Address("phone", CUSTOMER)]
    assert call.text == "Outbound call, 45 s"
    assert call.metadata["direction"] == "outbound"


@pytest.mark.parametrize(("status", "text"), [
    ("no-answer", "Inbound call, not answered"), ("busy", "Inbound call, busy"),
    ("failed", "Inbound call, failed"), ("canceled", "Inbound call, canceled")])
def test_unanswered_calls(status: str, text: str) -> None:
    params = callback(status, duration=None)
    [call] = VOICE.handle_webhook(voice_config(), signed(params)).messages
    assert call.text == text
    assert call.metadata["duration_seconds"] == 0


@pytest.mark.parametrize("status", ["queued", "initiated", "ringing", "in-progress"])
def test_progress_events_make_no_item(status: str) -> None:
    result = VOICE.handle_webhook(voice_config(), signed(callback(status)))
    assert result.messages == [] and result.body == EMPTY_TWIML


@pytest.mark.parametrize("caller", ["+266696687", "+2562533", "Anonymous", "client:alice",
                                    "sip:alice@example.com", ""])
def test_withheld_or_non_phone_callers_are_skipped(caller: str) -> None:
    result = VOICE.handle_webhook(voice_config(), signed(callback("completed", caller=caller)))
    assert result.messages == []


def test_bad_input_and_signatures() -> None:
    with pytest.raises(SignatureInvalid):
        VOICE.handle_webhook(voice_config(), signed(callback("completed"), token="1" * 32))
    with pytest.raises(PayloadInvalid, match="CallSid"):
        VOICE.handle_webhook(voice_config(), signed([("CallStatus", "completed")]))
    with pytest.raises(PayloadInvalid, match="CallDuration"):
        VOICE.handle_webhook(voice_config(), signed(callback("completed", duration="-1")))
    bad_recording = [*callback("completed"), ("RecordingUrl", "javascript:alert(1)")]
    [call] = VOICE.handle_webhook(voice_config(), signed(bad_recording)).messages
    assert call.metadata["recording_url"] is None


async def test_voice_does_not_send() -> None:
    async with httpx.AsyncClient() as http:
        with pytest.raises(SendError) as caught:
            await VOICE.send(voice_config(), OutboundMessage(to=CUSTOMER, text="hi"), http)
    assert not caught.value.transient


@pytest.mark.parametrize(("seconds", "words"), [
    (0, "0 s"), (45, "45 s"), (60, "1 min 0 s"), (192, "3 min 12 s"),
    (3723, "1 h 2 min 3 s"), (3600, "1 h 0 min 0 s")])
def test_duration_words(seconds: int, words: str) -> None:
    assert duration_words(seconds) == words


def test_non_ascii_duration_is_refused() -> None:
    with pytest.raises(PayloadInvalid, match="CallDuration"):
        VOICE.handle_webhook(voice_config(), signed(callback("completed", duration="²")))
