"""Sending through the WhatsApp Cloud API (``POST /{version}/{phone-number-id}/messages``).

The body is JSON with the channel's bearer token. A text (``type: text``), an approved
template (``type: template`` with body parameters) or one media item by public link;
``context.message_id`` makes it a reply to a customer's message. Graph errors come back as
``{"error": {"message", "type", "code", "error_data": {"details"}, "fbtrace_id"}}``; rate
limits and Meta's "try again later" codes are transient even when the HTTP status is 400.
The Cloud API has no idempotency key: a send retried after a lost answer may arrive twice.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from cxprism.channels.protocol import (
    Attachment,
    DeliveryStatus,
    OutboundMessage,
    SendError,
    SendResult,
)
from cxprism.channels.whatsapp import transport
from cxprism.channels.whatsapp.config import WhatsAppCloudConfig

# API Unknown/Service, too many calls, rate limits (app, account, throughput, spam,
# business-customer pair), "something went wrong", service and server unavailable.
TRANSIENT_CODES = frozenset({1, 2, 4, 17, 80007, 130429, 131000, 131016, 131048, 131056,
                             133004})
_WA_ID = re.compile(r"[1-9][0-9]{6,14}")
_CAPTIONED = frozenset({"image", "video", "document"})


def _refuse(message: str, code: str) -> SendError:
    return SendError(message, transient=False, code=code)


def _recipient(to: str) -> str:
    digits = to.strip().removeprefix("+")
    if not _WA_ID.fullmatch(digits):
        raise _refuse(f"the recipient {to[:40]!r} is not an E.164 phone number",
                      "invalid_recipient")
    return digits


def _template(message: OutboundMessage) -> dict[str, Any]:
    assert message.template is not None
    template = message.template
    payload: dict[str, Any] = {"name": template.name,
                               "language": {"code": template.language.replace("-", "_")}}
    if template.parameters:
        payload["components"] = [{"type": "body", "parameters": [
            {"type": "text", "text": value} for value in template.parameters]}]
    return {"type": "template", "template": payload}


def _media_kind(attachment: Attachment) -> str:
    major = attachment.content_type.split("/")[0].lower()
    return major if major in ("image", "video", "audio") else "document"


def _media(message: OutboundMessage) -> dict[str, Any]:
    if len(message.attachments) != 1 or message.attachments[0].url is None:
        raise _refuse("WhatsApp sends one attachment per message, from a public URL",
                      "unsupported_attachments")
    attachment = message.attachments[0]
    kind = _media_kind(attachment)
    media: dict[str, Any] = {"link": attachment.url}
    if message.text and kind not in _CAPTIONED:
        raise _refuse(f"a WhatsApp {kind} message has no caption; send the text separately",
                      "unsupported_attachments")
    if message.text:
        media["caption"] = message.text
    if kind == "document" and attachment.filename:
        media["filename"] = attachment.filename
    return {"type": kind, kind: media}


def message_body(message: OutboundMessage) -> dict[str, Any]:
    """The Cloud API request body for ``message``."""
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": _recipient(message.to)}
    if message.template is not None:
        body.update(_template(message))
    elif message.attachments:
        body.update(_media(message))
    elif message.text:
        body.update({"type": "text", "text": {"body": message.text, "preview_url": False}})
    else:
        raise _refuse("the message has no text, attachment or template", "empty_message")
    if message.in_reply_to:
        body["context"] = {"message_id": message.in_reply_to}
    return body


def _graph_error(document: dict[str, Any] | None,
                 status_code: int) -> tuple[int | None, str]:
    error = document.get("error") if document else None
    if not isinstance(error, dict):
        return None, f"HTTP {status_code}"
    code = error.get("code")
    text = str(error.get("message") or f"HTTP {status_code}")
    data = error.get("error_data")
    if isinstance(data, dict) and isinstance(data.get("details"), str):
        text += f" ({data['details']})"
    return (code if isinstance(code, int) else None), transport.clip(text)


def _accepted(document: dict[str, Any] | None) -> SendResult:
    messages = document.get("messages") if document else None
    first = messages[0] if isinstance(messages, list) and messages else None
    if not isinstance(first, dict) or not isinstance(first.get("id"), str) or not first["id"]:
        raise _refuse("WhatsApp accepted the request but its answer names no message id; "
                      "the message may have been sent", "unknown_outcome")
    details = {key: first[key] for key in ("message_status",) if key in first}
    return SendResult(external_id=first["id"], status=DeliveryStatus.SENT, details=details)


def _result(response: httpx.Response) -> SendResult:
    document = transport.json_object(response)
    if response.is_success:
        return _accepted(document)
    code, text = _graph_error(document, response.status_code)
    transient = (transport.is_transient_status(response.status_code)
                 or code in TRANSIENT_CODES)
    verb = "is unavailable" if transient else "refused the message"
    raise SendError(f"WhatsApp {verb} (HTTP {response.status_code}): {text}",
                    transient=transient, code=None if code is None else str(code),
                    retry_after=transport.retry_after(response) if transient else None)


async def send_message(config: WhatsAppCloudConfig, message: OutboundMessage,
                       http: httpx.AsyncClient) -> SendResult:
    url = f"{config.graph_base}/{config.api_version}/{config.phone_number_id}/messages"
    response = await transport.post(
        http, url, provider="WhatsApp", json=message_body(message),
        headers={"Authorization": f"Bearer {config.access_token}",
                 "Accept": "application/json"})
    return _result(response)
