"""Sending through Twilio's Messages API (``POST /2010-04-01/Accounts/{sid}/Messages.json``).

The request is form-encoded with HTTP Basic authentication (account SID, auth token).
WhatsApp addresses carry the ``whatsapp:`` prefix; a WhatsApp template is sent through
Twilio's Content API fields, ``ContentSid`` (the template's ``HX...`` SID, which also fixes
its language) and ``ContentVariables`` (``{"1": ..., "2": ...}``). Errors come back as
``{"code": 21211, "message": "...", "more_info": "...", "status": 400}``.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import urlencode

import httpx

from cxprism.channels.protocol import DeliveryStatus, OutboundMessage, SendError, SendResult
from cxprism.channels.twilio.config import TwilioConfig
from cxprism.channels.twilio.inbound import WHATSAPP_PREFIX
from cxprism.channels.whatsapp import transport
from cxprism.channels.whatsapp.fields import is_e164

API_VERSION = "2010-04-01"
MAX_MEDIA_SMS = 10
MAX_MEDIA_WHATSAPP = 1
IDEMPOTENCY_HEADER = "I-Twilio-Idempotency-Token"
_CONTENT_SID = re.compile(r"HX[0-9a-fA-F]{32}")
_HEADER_VALUE = re.compile(r"[\x21-\x7e]{1,255}")


def _refuse(message: str, code: str) -> SendError:
    return SendError(message, transient=False, code=code)


def _recipient(to: str, *, whatsapp: bool) -> str:
    number = to.strip().removeprefix(WHATSAPP_PREFIX)
    if not is_e164(number):
        raise _refuse(f"the recipient {to[:40]!r} is not an E.164 phone number",
                      "invalid_recipient")
    return WHATSAPP_PREFIX + number if whatsapp else number


def _media_urls(message: OutboundMessage, *, whatsapp: bool) -> list[str]:
    if any(a.url is None for a in message.attachments):
        raise _refuse("Twilio sends media only from a public URL; an attachment has none",
                      "attachment_needs_url")
    most = MAX_MEDIA_WHATSAPP if whatsapp else MAX_MEDIA_SMS
    if len(message.attachments) > most:
        raise _refuse(f"Twilio sends at most {most} media item(s) with one message",
                      "too_many_attachments")
    return [a.url for a in message.attachments if a.url is not None]


def _content(message: OutboundMessage, *, whatsapp: bool) -> list[tuple[str, str]]:
    """Body and media, or a WhatsApp template's Content SID and variables."""
    if whatsapp and message.template is not None:
        template = message.template
        if not _CONTENT_SID.fullmatch(template.name):
            raise _refuse("a Twilio WhatsApp template is named by its Content SID (HX and 32 "
                          f"hex digits), not {template.name[:40]!r}", "invalid_template")
        fields = [("ContentSid", template.name)]
        if template.parameters:
            variables = {str(i): value for i, value in enumerate(template.parameters, 1)}
            fields.append(("ContentVariables", json.dumps(variables, ensure_ascii=False)))
        return fields
    media = _media_urls(message, whatsapp=whatsapp)
    if not message.text and not media:
        raise _refuse("the message has no text, media or template", "empty_message")
    fields = [("Body", message.text)] if message.text else []
    return fields + [("MediaUrl", url) for url in media]


def message_form(config: TwilioConfig, message: OutboundMessage, *,
                 whatsapp: bool) -> list[tuple[str, str]]:
    """The Messages API form for ``message`` on this channel."""
    own = config.whatsapp_number if whatsapp else config.phone_number
    form = [("To", _recipient(message.to, whatsapp=whatsapp))]
    if config.messaging_service_sid is not None:
        form.append(("MessagingServiceSid", config.messaging_service_sid))
    elif own is not None:
        form.append(("From", WHATSAPP_PREFIX + own if whatsapp else own))
    else:
        raise _refuse("the channel has no number to send from", "no_sender")
    form += _content(message, whatsapp=whatsapp)
    if config.status_callback_url is not None:
        form.append(("StatusCallback", config.status_callback_url))
    return form


def _error_of(document: dict[str, Any] | None, status_code: int) -> tuple[str | None, str]:
    if document is None:
        return None, f"HTTP {status_code}"
    code = document.get("code")
    text = document.get("message")
    return (str(code) if isinstance(code, int | str) and code != "" else None,
            transport.clip(text) if isinstance(text, str) else f"HTTP {status_code}")


def _accepted(document: dict[str, Any] | None) -> SendResult:
    sid = document.get("sid") if document else None
    if document is None or not isinstance(sid, str) or not sid:
        raise _refuse("Twilio accepted the request but its answer names no message SID; "
                      "the message may have been sent", "unknown_outcome")
    status = str(document.get("status") or "")
    if status in ("failed", "undelivered"):
        code, text = _error_of({"code": document.get("error_code"),
                                "message": document.get("error_message") or status}, 200)
        raise SendError(f"Twilio refused the message: {text}", transient=False, code=code)
    wanted = ("status", "num_segments", "num_media")
    details: dict[str, Any] = {key: document[key] for key in wanted if key in document}
    return SendResult(external_id=sid, status=DeliveryStatus.SENT, details=details)


def _result(response: httpx.Response) -> SendResult:
    document = transport.json_object(response)
    if response.is_success:
        return _accepted(document)
    code, text = _error_of(document, response.status_code)
    if transport.is_transient_status(response.status_code):
        raise SendError(f"Twilio is unavailable (HTTP {response.status_code}): {text}",
                        transient=True, retry_after=transport.retry_after(response), code=code)
    raise SendError(f"Twilio refused the message (HTTP {response.status_code}): {text}",
                    transient=False, code=code)


def _basic(config: TwilioConfig) -> str:
    pair = f"{config.account_sid}:{config.auth_token}".encode()
    return "Basic " + base64.b64encode(pair).decode("ascii")


async def send_message(config: TwilioConfig, message: OutboundMessage,
                       http: httpx.AsyncClient, *, whatsapp: bool) -> SendResult:
    form = message_form(config, message, whatsapp=whatsapp)
    url = f"{config.api_base}/{API_VERSION}/Accounts/{config.account_sid}/Messages.json"
    # The Authorization header is built here, not through httpx's auth flow: the same
    # Basic credentials, without a per-request generator (measurable at high send rates).
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json",
               "Authorization": _basic(config)}
    key = message.idempotency_key
    if key is not None and _HEADER_VALUE.fullmatch(key):
        headers[IDEMPOTENCY_HEADER] = key
    response = await transport.post(
        http, url, provider="Twilio", content=urlencode(form).encode("utf-8"),
        headers=headers)
    return _result(response)
