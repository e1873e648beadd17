"""A signed WhatsApp Cloud notification as inbound messages and delivery statuses.

The envelope must be well formed (else :class:`PayloadInvalid`); within it, a message or
status that cannot be read is logged and skipped, so one odd item does not make Meta
redeliver, and eventually drop, the whole batch. Only values addressed to this channel's
``phone_number_id`` are read: one app's webhook serves all its numbers.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn

from pydantic import ValidationError

from cxprism.channels.protocol import (
    Address,
    Attachment,
    DeliveryStatus,
    InboundMessage,
    PayloadInvalid,
    StatusUpdate,
)
from cxprism.channels.whatsapp.fields import clean_text, extension_for
from cxprism.channels.whatsapp.payload import Error, Message, Notification, Status, Value

log = logging.getLogger("cxprism.channels.whatsapp")
OBJECT = "whatsapp_business_account"
MEDIA_TYPES = ("image", "audio", "video", "document", "sticker")
_WA_ID = re.compile(r"[1-9][0-9]{6,14}")
_MEDIA_TYPE = re.compile(r"[a-z0-9.+-]{1,64}/[a-z0-9.+-]{1,128}")
_SECONDS = re.compile(r"[0-9]{1,12}")  # ASCII digits: str.isdigit() also accepts "²"
_STATUSES = {"sent": DeliveryStatus.SENT, "delivered": DeliveryStatus.DELIVERED,
             "read": DeliveryStatus.READ, "failed": DeliveryStatus.FAILED}
_LAST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z

Content = tuple[str, list[Attachment], dict[str, Any]]


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_body(body: bytes) -> Notification:
    try:
        document = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise PayloadInvalid("the body is not JSON") from None
    try:
        notification = Notification.model_validate(document)
    except ValidationError as exc:
        raise PayloadInvalid(f"the notification is not valid: {_reason(exc)}") from None
    if notification.object != OBJECT:
        raise PayloadInvalid(f"object must be {OBJECT!r}; is the webhook for WhatsApp?")
    return notification


def _reason(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "the body"
    return f"{where}: {first['msg']}"


def _timestamp(value: str | None) -> datetime | None:
    if value is None or not _SECONDS.fullmatch(value) or int(value) > _LAST_TIMESTAMP:
        return None
    return datetime.fromtimestamp(int(value), UTC)


def _media(message: Message) -> Content:
    media = getattr(message, message.type)
    if media is None:
        return _unsupported(message)
    content_type = media.mime_type.split(";", maxsplit=1)[0].strip().lower()
    if not _MEDIA_TYPE.fullmatch(content_type):
        content_type = "application/octet-stream"
    # The customer names a document: keep the name, never a path.
    named = re.split(r"[/\\]", clean_text(media.filename or "", 255))[-1].strip(" .")
    filename = named or f"{message.type}-{media.id}{extension_for(content_type)}"
    attachment = Attachment(filename=filename, content_type=content_type,
                            url=f"media:{media.id}")
    return clean_text(media.caption or ""), [attachment], {"media_id": media.id}


def _interactive(message: Message) -> Content:
    interactive = message.interactive
    if interactive is None:
        return _unsupported(message)
    reply = interactive.button_reply or interactive.list_reply
    if reply is None:
        return _unsupported(message)
    metadata: dict[str, Any] = {"interactive_type": clean_text(interactive.type, 40),
                                "reply_id": clean_text(reply.id, 256)}
    if reply.description:
        metadata["reply_description"] = clean_text(reply.description)
    return clean_text(reply.title), [], metadata


def _location(message: Message) -> Content:
    place = message.location
    if place is None:
        return _unsupported(message)
    where = f"{place.latitude}, {place.longitude}"
    named = ", ".join(clean_text(p) for p in (place.name, place.address) if p)
    text = f"Location: {named} ({where})" if named else f"Location: {where}"
    return text, [], {"location": place.model_dump(exclude_none=True)}


def _unsupported(message: Message) -> Content:
    # Meta sends "unsupported" (and new types we do not know yet): say so, keep the errors.
    errors = [e.model_dump(exclude_none=True) for e in message.errors]
    kind = clean_text(message.type, 40)
    return f"[a WhatsApp {kind} message that cannot be shown here]", [], {
        "unsupported": True, "errors": errors}


def _text(message: Message) -> Content:
    return clean_text(message.text.body if message.text else ""), [], {}


def _button(message: Message) -> Content:
    # A template's quick-reply button: its text, and the payload the template set.
    if message.button is None:
        return _unsupported(message)
    return clean_text(message.button.text), [], {
        "button_payload": clean_text(message.button.payload or "")}


def _reaction(message: Message) -> Content:
    if message.reaction is None:
        return _unsupported(message)
    emoji = clean_text(message.reaction.emoji or "", 40)
    return emoji, [], {"reaction_to": message.reaction.message_id, "reaction": emoji,
                       "reaction_removed": not emoji}


_READERS: dict[str, Callable[[Message], Content]] = {
    "text": _text, "interactive": _interactive, "button": _button, "location": _location,
    "reaction": _reaction, **{kind: _media for kind in MEDIA_TYPES}}


def _content(message: Message) -> Content:
    return _READERS.get(message.type, _unsupported)(message)


def _refs(message: Message) -> list[str]:
    refs = [message.context.id] if message.context and message.context.id else []
    if message.type == "reaction" and message.reaction and message.reaction.message_id:
        refs.append(message.reaction.message_id)
    return list(dict.fromkeys(refs))


def inbound_item(raw: dict[str, Any], names: dict[str, str],
                 business_number: str) -> InboundMessage | None:
    try:
        message = Message.model_validate(raw)
    except ValidationError as exc:
        log.warning("skipped an unreadable WhatsApp message: %s", _reason(exc))
        return None
    if not _WA_ID.fullmatch(message.from_):
        log.warning("skipped a WhatsApp message whose sender is not a WhatsApp ID")
        return None
    text, attachments, metadata = _content(message)
    name = names.get(message.from_)
    metadata = {"network": "whatsapp", "wa_id": message.from_,
                "type": clean_text(message.type, 40), **metadata}
    if name:
        metadata["profile_name"] = name
    if message.context and message.context.forwarded:
        metadata["forwarded"] = True
    customer = "+" + message.from_
    return InboundMessage(
        external_id=message.id, sender=[Address("phone", customer)], text=text,
        sender_name=name, thread_refs=_refs(message),
        thread_key=f"{customer}|{business_number}", attachments=attachments,
        sent_at=_timestamp(message.timestamp), metadata=metadata)


def _failure(errors: list[Error]) -> str:
    parts = []
    for error in errors[:3]:
        words = clean_text(error.title or error.message or "error", 300)
        details = (error.error_data or {}).get("details")
        if isinstance(details, str) and details:
            words += f": {clean_text(details, 300)}"
        parts.append(f"{words} (code {error.code})" if error.code is not None else words)
    return "WhatsApp: " + ("; ".join(parts) or "delivery failed")


def status_item(raw: dict[str, Any]) -> StatusUpdate | None:
    try:
        status = Status.model_validate(raw)
    except ValidationError as exc:
        log.warning("skipped an unreadable WhatsApp status: %s", _reason(exc))
        return None
    mapped = _STATUSES.get(status.status)
    if mapped is None:
        return None
    reason = _failure(status.errors) if mapped is DeliveryStatus.FAILED else None
    return StatusUpdate(external_id=status.id, status=mapped, reason=reason,
                        at=_timestamp(status.timestamp))


def _values(notification: Notification, phone_number_id: str) -> list[Value]:
    values = []
    for entry in notification.entry:
        for change in entry.changes:
            if change.field != "messages":
                continue  # template, quality and account updates are not conversations
            try:
                value = Value.model_validate(change.value)
            except ValidationError as exc:
                raise PayloadInvalid(f"a messages change is not valid: {_reason(exc)}") from None
            if value.metadata.phone_number_id == phone_number_id:
                values.append(value)
    return values


def read_notification(notification: Notification, phone_number_id: str,
                      business_number: str) -> tuple[list[InboundMessage], list[StatusUpdate]]:
    messages: list[InboundMessage] = []
    statuses: list[StatusUpdate] = []
    for value in _values(notification, phone_number_id):
        names = {c.wa_id: clean_text(c.profile.name, 200)
                 for c in value.contacts if c.profile and c.profile.name}
        messages += [m for raw in value.messages
                     if (m := inbound_item(raw, names, business_number)) is not None]
        statuses += [s for raw in value.statuses if (s := status_item(raw)) is not None]
    return messages, statuses
