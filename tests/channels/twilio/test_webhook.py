from __future__ import annotations

import contextlib
import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxprism.channels.protocol import (
    Address,
    DeliveryStatus,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from cxprism.channels.twilio import TwilioSmsConnector, TwilioWhatsAppConnector
from cxprism.channels.twilio.signature import body_sha256, twilio_signature
from cxprism.channels.twilio.webhook import EMPTY_TWIML, MAX_BODY_BYTES
from tests.channels.twilio.helpers import (
    BUILDER,
    CUSTOMER,
    HOOK_URL,
    signed,
    sms_config,
    whatsapp_config,
)
from tests.fixtures.fake_twilio import (
    FAKE_ACCOUNT_SID,
    FAKE_AUTH_TOKEN,
    FAKE_PHONE_NUMBER,
    FAKE_WHATSAPP_NUMBER,
    new_sid,
)

SMS = TwilioSmsConnector()
WHATSAPP = TwilioWhatsAppConnector()
MEDIA_URL = (f"https://api.twilio.com/2010-04-01/Accounts/{FAKE_ACCOUNT_SID}/Messages/"
             f"MM{'1' * 32}/Media/ME{'2' * 32}")


def test_inbound_sms() -> None:
    params = BUILDER.inbound_params("Where is my order #1234?")
    result = SMS.handle_webhook(sms_config(), signed(params))
    assert result.content_type == "text/xml"
    assert result.body == EMPTY_TWIML
    assert result.statuses == []
    [message] = result.messages
    assert message.external_id == dict(params)["MessageSid"]
    assert message.sender == [Address("phone", CUSTOMER)]
    assert message.text == "Where is my order #1234?"
    assert message.thread_key == f"{CUSTOMER}|{FAKE_PHONE_NUMBER}"
    assert message.attachments == []
    assert message.metadata == {"network": "sms", "num_segments": 1}


def test_inbound_mms_with_media_references() -> None:
    params = BUILDER.inbound_params("", media=[(MEDIA_URL, "image/jpeg"),
                                               (MEDIA_URL + "x", "application/pdf")])
    [message] = SMS.handle_webhook(sms_config(), signed(params)).messages
    assert [(a.filename, a.content_type, a.url, a.data) for a in message.attachments] == [
        ("media-1.jpg", "image/jpeg", MEDIA_URL, b""),
        ("media-2.pdf", "application/pdf", MEDIA_URL + "x", b"")]


def test_inbound_whatsapp_with_media_and_profile() -> None:
    params = BUILDER.inbound_params("Here is the damaged box", whatsapp=True,
                                    to=FAKE_WHATSAPP_NUMBER, media=[(MEDIA_URL, "image/jpeg")],
                                    profile_name="Ana Souza")
    [message] = WHATSAPP.handle_webhook(whatsapp_config(), signed(params)).messages
    assert message.sender == [Address("phone", CUSTOMER)]
    assert message.sender_name == "Ana Souza"
    assert message.thread_key == f"{CUSTOMER}|{FAKE_WHATSAPP_NUMBER}"
    assert message.text == "Here is the damaged box"
    assert message.attachments[0].url == MEDIA_URL
    assert message.metadata["profile_name"] == "Ana Souza"
    assert message.metadata["wa_id"] == CUSTOMER.lstrip("+")
    assert message.metadata["network"] == "whatsapp"


def test_whatsapp_quick_reply_location_and_reply_reference() -> None:
    replied = new_sid("SM")
    button = [*BUILDER.inbound_params("", whatsapp=True, to=FAKE_WHATSAPP_NUMBER),
              ("ButtonText", "Track my order"), ("ButtonPayload", "track"),
              ("OriginalRepliedMessageSid", replied)]
    [message] = WHATSAPP.handle_webhook(whatsapp_config(), signed(button)).messages
    assert message.text == "Track my order"
    assert message.metadata["button_payload"] == "track"
    assert message.thread_refs == [replied]
    place = [*BUILDER.inbound_params("", whatsapp=True, to=FAKE_WHATSAPP_NUMBER),
             ("Latitude", "48.8584"), ("Longitude", "2.2945"), ("Label", "Shop")]
    [message] = WHATSAPP.handle_webhook(whatsapp_config(), signed(place)).messages
    assert message.text == "Location: Shop (48.8584, 2.2945)"


@pytest.mark.parametrize(("status", "expected"), [
    ("sent", DeliveryStatus.SENT), ("delivered", DeliveryStatus.DELIVERED),
    ("read", DeliveryStatus.READ), ("undelivered", DeliveryStatus.FAILED),
    ("failed", DeliveryStatus.FAILED)])
def test_status_callbacks(status: str, expected: DeliveryStatus) -> None:
    sid = new_sid("SM")
    result = SMS.handle_webhook(sms_config(), signed(BUILDER.status_params(sid, status)))
    assert result.messages == []
    [update] = result.statuses
    assert (update.external_id, update.status) == (sid, expected)
    assert result.body == EMPTY_TWIML


def test_failed_status_names_the_error() -> None:
    sid = new_sid("SM")
    params = BUILDER.status_params(sid, "undelivered", error_code="30003")
    [update] = SMS.handle_webhook(sms_config(), signed(params)).statuses
    assert update.reason == "Twilio undelivered, error 30003: the handset is unreachable"
    params = BUILDER.status_params(sid, "failed", error_code="63016")
    [update] = SMS.handle_webhook(sms_config(), signed(params)).statuses
    assert "63016" in (update.reason or "") and "template" in (update.reason or "")


@pytest.mark.parametrize("status", ["queued", "accepted", "sending", "scheduled", "received"])
def test_intermediate_statuses_are_acknowledged_and_dropped(status: str) -> None:
    params = BUILDER.status_params(new_sid("SM"), status)
    result = SMS.handle_webhook(sms_config(), signed(params))
    assert (result.messages, result.statuses, result.body) == ([], [], EMPTY_TWIML)


def test_missing_bad_and_foreign_signatures() -> None:
    params = BUILDER.inbound_params("hello")
    request = signed(params)
    unsigned = WebhookRequest(method="POST", url=HOOK_URL, headers={}, body=request.body,
                              form=params)
    with pytest.raises(SignatureInvalid, match="missing"):
        SMS.handle_webhook(sms_config(), unsigned)
    with pytest.raises(SignatureInvalid):
        SMS.handle_webhook(sms_config(), signed(params, signature="bm90IGl0"))
    with pytest.raises(SignatureInvalid):
        SMS.handle_webhook(sms_config(), signed(params, token="0" * 32))
    other_channel = signed(params, url=HOOK_URL.replace("8a1c", "9a1c"))
    with pytest.raises(SignatureInvalid):
        SMS.handle_webhook(sms_config(), WebhookRequest(**{**request.__dict__,
                                                           "headers": other_channel.headers}))


def test_a_tampered_parameter_invalidates_the_signature() -> None:
    params = BUILDER.inbound_params("Refund me $10")
    request = signed(params)
    tampered = [(k, "Refund me $1000" if k == "Body" else v) for k, v in params]
    with pytest.raises(SignatureInvalid):
        SMS.handle_webhook(sms_config(), WebhookRequest(
            method="POST", url=HOOK_URL, headers=request.headers, body=request.body,
            form=tampered))


def test_signed_junk_is_payload_invalid() -> None:
    with pytest.raises(PayloadInvalid, match="neither"):
        SMS.handle_webhook(sms_config(), signed([("Hello", "world")]))
    with pytest.raises(PayloadInvalid):
        SMS.handle_webhook(sms_config(), signed([("MessageSid", "nonsense"), ("Body", "x")]))
    bad_media = [(k, "eleven" if k == "NumMedia" else v)
                 for k, v in BUILDER.inbound_params("x")]
    with pytest.raises(PayloadInvalid, match="NumMedia"):
        SMS.handle_webhook(sms_config(), signed(bad_media))
    with pytest.raises(PayloadInvalid, match="MessageStatus"):
        SMS.handle_webhook(sms_config(), signed(BUILDER.status_params(new_sid("SM"), "??")))


def test_oversized_bodies_and_get_requests_are_refused_before_anything_else() -> None:
    huge = [("Body", "x" * (MAX_BODY_BYTES + 1))]
    with pytest.raises(PayloadInvalid, match="larger"):
        SMS.handle_webhook(sms_config(), signed(huge))
    many = [(f"Field{i}", "1") for i in range(500)]
    with pytest.raises(PayloadInvalid, match="fields"):
        SMS.handle_webhook(sms_config(), signed(many))
    with pytest.raises(PayloadInvalid, match="POST"):
        SMS.handle_webhook(sms_config(), signed(BUILDER.inbound_params("x"), method="GET"))


def test_whatsapp_on_the_sms_channel_and_the_reverse_are_refused() -> None:
    whatsapp = BUILDER.inbound_params("hi", whatsapp=True, to=FAKE_WHATSAPP_NUMBER)
    with pytest.raises(PayloadInvalid, match="not an SMS address"):
        SMS.handle_webhook(sms_config(), signed(whatsapp))
    with pytest.raises(PayloadInvalid, match="not a WhatsApp address"):
        WHATSAPP.handle_webhook(whatsapp_config(), signed(BUILDER.inbound_params("hi")))


def test_another_account_is_refused() -> None:
    params = [(k, "AC" + "e" * 32 if k == "AccountSid" else v)
              for k, v in BUILDER.inbound_params("hi")]
    with pytest.raises(PayloadInvalid, match="another Twilio account"):
        SMS.handle_webhook(sms_config(), signed(params))


def test_control_characters_and_surrogates_are_dropped_not_fatal() -> None:
    params = BUILDER.inbound_params("a\x00b\x1bc\ud800d\ne")
    [message] = SMS.handle_webhook(sms_config(), signed(params)).messages
    assert message.text == "abcd\ne"


def test_json_bodied_webhook() -> None:
    fields = dict(BUILDER.inbound_params("sent as JSON"))
    body = json.dumps(fields).encode()
    url = f"{HOOK_URL}?bodySHA256={body_sha256(body)}"
    headers = {"content-type": "application/json",
               "x-twilio-signature": twilio_signature(FAKE_AUTH_TOKEN, url, [])}
    request = WebhookRequest(method="POST", url=url, headers=headers, body=body,
                             query=[("bodySHA256", body_sha256(body))])
    [message] = SMS.handle_webhook(sms_config(), request).messages
    assert message.text == "sent as JSON"
    forged = WebhookRequest(**{**request.__dict__, "body": body.replace(b"JSON", b"json")})
    with pytest.raises(SignatureInvalid):
        SMS.handle_webhook(sms_config(), forged)


form_strategy = st.lists(
    st.tuples(st.sampled_from(["MessageSid", "SmsSid", "Body", "NumMedia", "From", "To",
                               "MessageStatus", "MediaUrl0", "MediaContentType0",
                               "ErrorCode", "AccountSid", "WaId", "Latitude", "Junk"]),
              st.text(max_size=40)),
    max_size=14)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(form=form_strategy, whatsapp=st.booleans())
def test_any_signed_form_is_parsed_or_refused_cleanly(form: list[tuple[str, str]],
                                                      whatsapp: bool) -> None:
    connector = WHATSAPP if whatsapp else SMS
    config = whatsapp_config() if whatsapp else sms_config()
    with contextlib.suppress(PayloadInvalid):
        connector.handle_webhook(config, signed(form))


def test_the_hook_url_with_a_quoted_query_is_signed_as_called() -> None:
    url = f"{HOOK_URL}?note={quote('a b')}"
    params = BUILDER.inbound_params("hi")
    assert SMS.handle_webhook(sms_config(), signed(params, url=url)).messages


def test_non_ascii_digits_are_not_numbers() -> None:
    params = [(k, "²" if k == "NumSegments" else v) for k, v in BUILDER.inbound_params("hi")]
    [message] = SMS.handle_webhook(sms_config(), signed(params)).messages
    assert "num_segments" not in message.metadata
    arabic_indic = "+1" + "".join(chr(0x0660 + int(d)) for d in "4155550100")
    params = [(k, arabic_indic if k == "From" else v) for k, v in BUILDER.inbound_params("x")]
    with pytest.raises(PayloadInvalid, match=r"E\.164"):
        SMS.handle_webhook(sms_config(), signed(params))
