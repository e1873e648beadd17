"""Twilio's messaging webhooks (SMS, MMS, WhatsApp) as inbound messages and statuses.

Twilio POSTs form fields (documented in "Twilio's request to your incoming message
Webhook URL" and the status callback guide). An incoming message carries ``MessageSid``
(or the older ``SmsSid``), ``From``, ``To``, ``Body`` and ``NumMedia`` with
``MediaUrl{N}``/``MediaContentType{N}``; WhatsApp adds ``ProfileName``, ``WaId``, button
and location fields, and addresses are written ``whatsapp:+14155550100``. A status
callback carries ``MessageStatus`` (and ``ErrorCode`` when delivery failed).
"""

from __future__ import annotations

import re
from typing import Any

from cxprism.channels.protocol import (
    Address,
    Attachment,
    DeliveryStatus,
    InboundMessage,
    PayloadInvalid,
    StatusUpdate,
)
from cxprism.channels.whatsapp.fields import clean_text, extension_for, is_e164

WHATSAPP_PREFIX = "whatsapp:"
MAX_MEDIA = 10  # Twilio delivers at most ten media items with one message
_SID = re.compile(r"[A-Z]{2}[0-9a-fA-F]{32}")
_COUNT = re.compile(r"[0-9]{1,5}")  # ASCII digits: str.isdigit() also accepts "²"
_MEDIA_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f]{1,2040}")
_CONTENT_TYPE = re.compile(r"[A-Za-z0-9.+-]{1,64}/[A-Za-z0-9.+-]{1,128}")

# Statuses of a message on its way out that say nothing new once the API accepted it,
# and statuses of inbound messages (the message itself comes through its own webhook).
_IGNORED = frozenset({"accepted", "scheduled", "queued", "sending", "receiving", "received"})
_STATUSES = {
    "sent": DeliveryStatus.SENT,
    "partially_delivered": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "undelivered": DeliveryStatus.FAILED,
    "failed": DeliveryStatus.FAILED,
    "canceled": DeliveryStatus.FAILED,
}
# The error codes agents meet most, in words (Twilio's error dictionary has the rest).
_ERRORS = {
    "30003": "the handset is unreachable",
    "30004": "the message was blocked",
    "30005": "the number is unknown or no longer exists",
    "30006": "the number is a landline or unreachable carrier",
    "30007": "the carrier filtered the message",
    "30008": "unknown error",
    "63016": "outside the 24-hour WhatsApp window: only an approved template may be sent",
}


def fields_of(form: list[tuple[str, str]]) -> dict[str, str]:
    """The form as a dict; Twilio never repeats a field, so the first value is kept."""
    fields: dict[str, str] = {}
    for name, value in form:
        fields.setdefault(name, value)
    return fields


def message_sid(fields: dict[str, str]) -> str | None:
    sid = fields.get("MessageSid") or fields.get("SmsSid")
    if sid is not None and not _SID.fullmatch(sid):
        raise PayloadInvalid("MessageSid is not a Twilio message SID")
    return sid


def phone_of(value: str | None, field: str, *, whatsapp: bool) -> str:
    """The E.164 number of a ``From``/``To`` value, checking its channel prefix."""
    if not value:
        raise PayloadInvalid(f"{field} is missing")
    has_prefix = value.startswith(WHATSAPP_PREFIX)
    if has_prefix != whatsapp:
        expected = "a WhatsApp" if whatsapp else "an SMS"
        raise PayloadInvalid(f"{field} {value[:40]!r} is not {expected} address; is the "
                             f"Twilio webhook pointed at the right channel?")
    number = value.removeprefix(WHATSAPP_PREFIX)
    if not is_e164(number):
        raise PayloadInvalid(f"{field} is not an E.164 phone number")
    return number


def status_update(fields: dict[str, str]) -> StatusUpdate | None:
    """A status callback as a :class:`StatusUpdate`, or None for uninteresting ones."""
    sid = message_sid(fields)
    if sid is None:
        raise PayloadInvalid("the status callback has no MessageSid")
    raw = fields.get("MessageStatus", "").strip().lower()
    if raw in _IGNORED:
        return None
    status = _STATUSES.get(raw)
    if status is None:
        raise PayloadInvalid(f"unknown MessageStatus {raw[:40]!r}")
    reason = None
    if status is DeliveryStatus.FAILED:
        code = clean_text(fields.get("ErrorCode", "").strip())[:20]
        words = _ERRORS.get(code) or clean_text(fields.get("ErrorMessage", ""))[:300]
        reason = f"Twilio {raw}" + (f", error {code}" if code else "") + (
            f": {words}" if words else "")
    return StatusUpdate(external_id=sid, status=status, reason=reason)


def _attachments(fields: dict[str, str]) -> list[Attachment]:
    try:
        count = int(fields.get("NumMedia") or "0")
    except ValueError:
        raise PayloadInvalid("NumMedia is not a number") from None
    if not 0 <= count <= MAX_MEDIA:
        raise PayloadInvalid(f"NumMedia must be between 0 and {MAX_MEDIA}")
    attachments = []
    for index in range(count):
        url = fields.get(f"MediaUrl{index}", "")
        content_type = fields.get(f"MediaContentType{index}", "application/octet-stream")
        if not _MEDIA_URL.fullmatch(url):
            raise PayloadInvalid(f"MediaUrl{index} is not a web address")
        if not _CONTENT_TYPE.fullmatch(content_type):
            raise PayloadInvalid(f"MediaContentType{index} is not a media type")
        extension = extension_for(content_type)
        attachments.append(Attachment(filename=f"media-{index + 1}{extension}",
                                      content_type=content_type.lower(), url=url))
    return attachments


def _whatsapp_metadata(fields: dict[str, str]) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    names = {"ProfileName": "profile_name", "WaId": "wa_id", "ButtonText": "button_text",
             "ButtonPayload": "button_payload", "Latitude": "latitude",
             "Longitude": "longitude", "Address": "address", "Label": "label",
             "MessageType": "message_type", "Forwarded": "forwarded"}
    for field, key in names.items():
        if fields.get(field):
            metadata[key] = clean_text(fields[field])[:500]
    return metadata


def _whatsapp_summary(metadata: dict[str, Any]) -> str:
    """Text for a WhatsApp item without a body: a quick-reply button or a shared place."""
    if "button_text" in metadata:
        return str(metadata["button_text"])
    if "latitude" in metadata and "longitude" in metadata:
        place = ", ".join(str(metadata[k]) for k in ("label", "address") if k in metadata)
        where = f"{metadata['latitude']}, {metadata['longitude']}"
        return f"Location: {place} ({where})" if place else f"Location: {where}"
    return ""


def inbound_message(fields: dict[str, str], *, whatsapp: bool) -> InboundMessage:
    sid = message_sid(fields)
    if sid is None:
        raise PayloadInvalid("the message has no MessageSid")
    customer = phone_of(fields.get("From"), "From", whatsapp=whatsapp)
    ours = phone_of(fields.get("To"), "To", whatsapp=whatsapp)
    text = clean_text(fields.get("Body", ""))
    metadata: dict[str, Any] = {"network": "whatsapp" if whatsapp else "sms"}
    segments = fields.get("NumSegments", "")
    if _COUNT.fullmatch(segments):
        metadata["num_segments"] = int(segments)
    if whatsapp:
        metadata.update(_whatsapp_metadata(fields))
        text = text or _whatsapp_summary(metadata)
    replied = fields.get("OriginalRepliedMessageSid", "")
    return InboundMessage(
        external_id=sid,
        sender=[Address("phone", customer)],
        text=text,
        sender_name=metadata.get("profile_name"),
        thread_key=f"{customer}|{ours}",
        thread_refs=[replied] if _SID.fullmatch(replied) else [],
        attachments=_attachments(fields),
        metadata=metadata,
    )


def is_status_callback(fields: dict[str, str]) -> bool:
    return "MessageStatus" in fields


def is_inbound_message(fields: dict[str, str]) -> bool:
    has_sid = "MessageSid" in fields or "SmsSid" in fields
    return has_sid and ("Body" in fields or "NumMedia" in fields)
