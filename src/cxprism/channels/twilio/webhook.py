"""Checking that a webhook request came from Twilio, and answering it.

Twilio signs every webhook with the account's auth token (see :mod:`.signature`). Most
are form-encoded; a request whose URL carries ``bodySHA256`` has a JSON body instead,
whose top-level fields are read like form fields once the body hash is checked.
"""

from __future__ import annotations

import json

from cxprism.channels.protocol import (
    InboundMessage,
    PayloadInvalid,
    SignatureInvalid,
    StatusUpdate,
    WebhookRequest,
    WebhookResult,
)
from cxprism.channels.twilio.inbound import fields_of
from cxprism.channels.twilio.signature import BODY_HASH_PARAM, verify_twilio, verify_twilio_body

SIGNATURE_HEADER = "x-twilio-signature"
MAX_BODY_BYTES = 256 * 1024  # ten media URLs and a 1,600-character body fit many times over
MAX_FIELDS = 200
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _json_fields(body: bytes) -> dict[str, str]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise PayloadInvalid("the body is not JSON") from None
    if not isinstance(document, dict):
        raise PayloadInvalid("the body must be a JSON object")
    fields: dict[str, str] = {}
    for name, value in document.items():
        if isinstance(value, bool):
            fields[name] = "true" if value else "false"
        elif isinstance(value, str | int | float):
            fields[name] = str(value)
    return fields


def verified_fields(auth_token: str, request: WebhookRequest) -> dict[str, str]:
    """The request's fields, once its size and Twilio's signature are checked."""
    if request.method.upper() != "POST":
        raise PayloadInvalid("Twilio webhooks must use POST; set the webhook method to "
                             "HTTP POST in the Twilio console")
    if len(request.body) > MAX_BODY_BYTES:
        raise PayloadInvalid(f"the body is larger than {MAX_BODY_BYTES // 1024} KiB")
    if len(request.form) > MAX_FIELDS:
        raise PayloadInvalid(f"the form has more than {MAX_FIELDS} fields")
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise SignatureInvalid(f"the {SIGNATURE_HEADER} header is missing")
    if any(name == BODY_HASH_PARAM for name, _ in request.query):
        if not verify_twilio_body(auth_token, request.url, request.body, signature):
            raise SignatureInvalid("the signature or body hash does not match this channel's "
                                   "auth token")
        return _json_fields(request.body)
    if not verify_twilio(auth_token, request.url, request.form, signature):
        raise SignatureInvalid("the signature does not match this channel's auth token and "
                               "URL")
    return fields_of(request.form)


def twiml_result(messages: list[InboundMessage] | None = None,
                 statuses: list[StatusUpdate] | None = None) -> WebhookResult:
    """An empty TwiML answer: we reply later, through the API, not in the response."""
    return WebhookResult(messages=messages or [], statuses=statuses or [],
                         content_type="text/xml", body=EMPTY_TWIML)
