"""Twilio voice: each finished call becomes one ``call`` item on the customer's timeline.

Set ``/hooks/twilio_voice/{channel_id}`` as the number's call *status callback* URL (with
the "completed" event). Twilio POSTs ``CallSid``, ``CallStatus``, ``Direction``, ``From``,
``To`` and, once the call ends, ``CallDuration`` and any ``RecordingUrl``/``RecordingSid``.
Only final statuses (completed, busy, no-answer, failed, canceled) make an item; the others
are answered and dropped. Do not use this URL as the number's voice URL: the empty TwiML
answer would end the call. A call from a withheld number or a SIP/client endpoint names
no phone number to file it under, so it is skipped.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
from pydantic import BaseModel

from cxprism.channels.protocol import (
    Address,
    InboundMessage,
    ItemKind,
    OutboundMessage,
    PayloadInvalid,
    SendError,
    SendResult,
    WebhookRequest,
    WebhookResult,
    config_as,
    first_address,
)
from cxprism.channels.twilio.config import TwilioVoiceConfig
from cxprism.channels.twilio.webhook import twiml_result, verified_fields
from cxprism.channels.whatsapp.fields import clean_text, is_e164

FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
MAX_CALL_SECONDS = 7 * 24 * 3600
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")
_RECORDING_SID = re.compile(r"RE[0-9a-fA-F]{32}")
_SECONDS = re.compile(r"[0-9]{1,9}")
_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]{1,2040}")
# A withheld caller ID reaches Twilio as a word spelled on the keypad: ANONYMOUS, BLOCKED,
# RESTRICTED, UNAVAILABLE, UNKNOWN. They are nobody's number.
WITHHELD = frozenset({"+266696687", "+2562533", "+7378742833", "+86282452253", "+8656696"})
_OUTCOMES = {"busy": "busy", "no-answer": "not answered", "failed": "failed",
             "canceled": "canceled"}


def duration_words(seconds: int) -> str:
    """``3 min 12 s``, ``1 h 2 min 3 s``, ``45 s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{hours} h"] if hours else []
    if minutes or hours:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)


def _duration(fields: dict[str, str]) -> int:
    raw = fields.get("CallDuration", "").strip() or "0"
    if not _SECONDS.fullmatch(raw) or int(raw) > MAX_CALL_SECONDS:
        raise PayloadInvalid("CallDuration is not a number of seconds")
    return int(raw)


def _timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _recording(fields: dict[str, str]) -> dict[str, Any]:
    url, sid = fields.get("RecordingUrl", ""), fields.get("RecordingSid", "")
    return {"recording_url": url if _URL.fullmatch(url) else None,
            "recording_sid": sid if _RECORDING_SID.fullmatch(sid) else None}


def call_item(fields: dict[str, str]) -> InboundMessage | None:
    """The timeline item for a final call status, or None (not final, no phone number)."""
    sid = fields.get("CallSid", "")
    if not _CALL_SID.fullmatch(sid):
        raise PayloadInvalid("CallSid is missing or not a Twilio call SID")
    status = fields.get("CallStatus", "").strip().lower()
    if status not in FINAL_STATUSES:
        return None
    raw_direction = fields.get("Direction", "inbound").strip().lower()
    inbound = raw_direction == "inbound"
    customer = fields.get("From" if inbound else "To", "")
    ours = fields.get("To" if inbound else "From", "")
    if not is_e164(customer) or customer in WITHHELD:
        return None
    seconds = _duration(fields)
    label = "Inbound call" if inbound else "Outbound call"
    outcome = duration_words(seconds) if status == "completed" else _OUTCOMES[status]
    metadata: dict[str, Any] = {
        "network": "voice", "direction": "inbound" if inbound else "outbound",
        "twilio_direction": clean_text(raw_direction)[:40], "duration_seconds": seconds,
        "status": status, **_recording(fields)}
    return InboundMessage(
        external_id=sid, kind=ItemKind.CALL, sender=[Address("phone", customer)],
        text=f"{label}, {outcome}", thread_key=f"{customer}|{ours}" if ours else None,
        sent_at=_timestamp(fields.get("Timestamp")), metadata=metadata)



class TwilioVoiceConnector:
    kind: ClassVar[str] = "twilio_voice"
    config_model: ClassVar[type[BaseModel]] = TwilioVoiceConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"auth_token"})

    def address_of(self, config: BaseModel) -> str:
        return config_as(config, TwilioVoiceConfig).phone_number

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return first_address(addresses, "phone")

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        raise SendError("voice channels do not send messages; reply on another channel",
                        transient=False, code="not_supported")

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        voice = config_as(config, TwilioVoiceConfig)
        fields = verified_fields(voice.auth_token, request)
        account = fields.get("AccountSid")
        if account is not None and account.lower() != voice.account_sid.lower():
            raise PayloadInvalid("the request belongs to another Twilio account")
        item = call_item(fields)
        return twiml_result(messages=[item] if item is not None else [])
