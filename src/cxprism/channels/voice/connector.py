"""The generic voice connector: call records (and transcripts) from any contact centre.

Genesys, Amazon Connect, a PBX or a speech-analytics tool POSTs one call record per call
to ``/hooks/voice/{channel_id}``, signed with Standard Webhooks (see
:mod:`cxprism.channels.voice.calls` for the record). Each call becomes one timeline item
of kind ``call`` from the customer's phone number. Voice channels only listen: replies go
out on another channel.
"""

from __future__ import annotations

import json
from typing import Annotated, ClassVar

import httpx
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError

from cxprism.channels.protocol import (
    Address,
    OutboundMessage,
    PayloadInvalid,
    SendError,
    SendResult,
    WebhookRequest,
    WebhookResult,
    config_as,
    first_address,
)
from cxprism.channels.social import signing
from cxprism.channels.social.payloads import parse_json, reason_of
from cxprism.channels.voice.calls import E164, CallRecord, to_inbound
from cxprism.kit.validation import check_text

MAX_BODY_BYTES = 4 * 1024 * 1024  # a full transcript with JSON overhead fits comfortably

SystemName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(check_text)]


class VoiceConfig(BaseModel):
    """``name_of_system`` names the call platform (shown to agents), e.g. Amazon Connect."""

    model_config = ConfigDict(extra="forbid")

    name_of_system: SystemName
    phone_number: E164
    inbound_secret: signing.WebhookSecret



class VoiceConnector:
    kind: ClassVar[str] = "voice"
    config_model: ClassVar[type[BaseModel]] = VoiceConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"inbound_secret"})

    def address_of(self, config: BaseModel) -> str:
        return config_as(config, VoiceConfig).phone_number

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return first_address(addresses, "phone")

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        raise SendError("voice channels do not send messages; reply on another channel",
                        transient=False, code="not_supported")

    def handle_webhook(self, config: BaseModel, request: WebhookRequest) -> WebhookResult:
        voice = config_as(config, VoiceConfig)
        if len(request.body) > MAX_BODY_BYTES:
            raise PayloadInvalid(f"the body is larger than {MAX_BODY_BYTES // 2**20} MiB")
        signing.verify(voice.inbound_secret, request)
        document = parse_json(request.body, MAX_BODY_BYTES)
        if not isinstance(document, dict):
            raise PayloadInvalid("the body must be one call record, a JSON object")
        try:
            record = CallRecord.model_validate(document)
        except ValidationError as exc:
            raise PayloadInvalid(f"the call record is not valid: {reason_of(exc)}") from None
        message = to_inbound(record, voice.name_of_system)
        answer = {"accepted": 1, "call_id": record.call_id}
        return WebhookResult(messages=[message], content_type="application/json",
                             body=json.dumps(answer).encode())
