from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from cxprism.channels.protocol import (
    Address,
    Attachment,
    DeliveryStatus,
    PayloadInvalid,
    SignatureInvalid,
    WebhookRequest,
)
from cxprism.channels.whatsapp import WhatsAppCloudConnector
from cxprism.channels.whatsapp.connector import MAX_BODY_BYTES
from cxprism.channels.whatsapp.signature import hub_signature
from tests.channels.whatsapp.helpers import (
    BUILDER,
    HOOK_URL,
    WA_ID,
    cloud_config,
    post,
    signed_post,
)
from tests.fixtures.fake_meta import (
    FAKE_APP_SECRET,
    FAKE_DISPLAY_NUMBER,
    FAKE_VERIFY_TOKEN,
    status_event,
    text_message,
)

CLOUD = WhatsAppCloudConnector()
WAMID = "wamid.HBgLMTY1MDUwNzY1MjAVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
OUR_WAMID = "wamid.HBgLMTY1MDUwNzY1MjAVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"


def received(message: dict[str, Any]) -> Any:
    payload = BUILDER.notification(messages=[message], contacts=[(WA_ID, "Sheena Nelson")])
    result = CLOUD.handle_webhook(cloud_config(), signed_post(payload))
    [item] = result.messages
    return item


def handshake(**query: str) -> WebhookRequest:
    return WebhookRequest(method="GET", url=HOOK_URL, headers={}, body=b"",
                          query=list(query.items()))


def test_subscription_handshake() -> None:
    result = CLOUD.handle_webhook(cloud_config(), handshake(**{
        "hub.mode": "subscribe", "hub.verify_token": FAKE_VERIFY_TOKEN,
        "hub.challenge": "1158201444"}))
    assert (result.status_code, result.content_type, result.body) == (
        200, "text/plain", b"1158201444")
    assert result.messages == [] and result.statuses == []


def test_handshake_with_a_wrong_or_missing_token_or_challenge() -> None:
    with pytest.raises(SignatureInvalid):
        CLOUD.handle_webhook(cloud_config(), handshake(**{
            "hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "1"}))
    with pytest.raises(SignatureInvalid):
        CLOUD.handle_webhook(cloud_config(), handshake(**{"hub.mode": "subscribe",
                                                          "hub.challenge": "1"}))
    with pytest.raises(PayloadInvalid, match=r"hub\.mode"):
        CLOUD.handle_webhook(cloud_config(), handshake())
    with pytest.raises(PayloadInvalid, match=r"hub\.challenge"):
        CLOUD.handle_webhook(cloud_config(), handshake(**{
            "hub.mode": "subscribe", "hub.verify_token": FAKE_VERIFY_TOKEN,
            "hub.challenge": "<script>\n"}))


def test_the_signature_covers_the_raw_bytes() -> None:
    payload = BUILDER.notification(messages=[text_message(WA_ID, "Olá, ça va? 👋")])
    body, headers = BUILDER.signed_webhook(payload)
    assert b"\\u00e7" in body  # escaped as Meta escapes it
    assert CLOUD.handle_webhook(cloud_config(), post(body, headers)).messages
    same_json_other_bytes = json.dumps(payload, indent=2).encode()
    assert json.loads(same_json_other_bytes) == json.loads(body)
    with pytest.raises(SignatureInvalid):
        CLOUD.handle_webhook(cloud_config(), post(same_json_other_bytes, headers))
    unescaped = json.dumps(payload, ensure_ascii=False).encode()
    with pytest.raises(SignatureInvalid):
        CLOUD.handle_webhook(cloud_config(), post(unescaped, headers))


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "sha256=", "sha256=00ff",
                                    "sha256=" + "é" * 64])
def test_missing_or_bad_signature_headers(header: str | None) -> None:
    body = json.dumps(BUILDER.notification()).encode()
    headers = {} if header is None else {"x-hub-signature-256": header}
    with pytest.raises(SignatureInvalid):
        CLOUD.handle_webhook(cloud_config(), post(body, headers))


def test_an_uppercase_hex_signature_is_accepted() -> None:
    body = json.dumps(BUILDER.notification(messages=[text_message(WA_ID, "hi")])).encode()
    header = "sha256=" + hub_signature(FAKE_APP_SECRET, body).removeprefix("sha256=").upper()
    assert CLOUD.handle_webhook(cloud_config(), post(body, {"x-hub-signature-256": header}))


def test_text_message() -> None:
    message = text_message(WA_ID, "Does it come in another color?", message_id=WAMID)
    message["timestamp"] = "1718712000"
    item = received(message)
    assert item.external_id == WAMID
    assert item.sender == [Address("phone", "+" + WA_ID)]
    assert item.sender_name == "Sheena Nelson"
    assert item.text == "Does it come in another color?"
    assert item.thread_key == f"+{WA_ID}|{FAKE_DISPLAY_NUMBER}"
    assert item.sent_at == datetime(2024, 6, 18, 12, 0, tzinfo=UTC)
    assert item.metadata == {"network": "whatsapp", "wa_id": WA_ID, "type": "text",
                             "profile_name": "Sheena Nelson"}
    assert item.thread_refs == []


def test_odd_timestamps_are_dropped() -> None:
    for stamp in ("²", "-5", "99999999999999", "soon"):
        message = text_message(WA_ID, "hi")
        message["timestamp"] = stamp
        assert received(message).sent_at is None


def test_a_reply_names_the_message_it_answers() -> None:
    item = received(text_message(WA_ID, "Yes please", context_id=OUR_WAMID))
    assert item.thread_refs == [OUR_WAMID]


@pytest.mark.parametrize(("kind", "media", "attachment", "text"), [
    ("image", {"caption": "The dent", "mime_type": "image/jpeg",
               "sha256": "IQbRN4Y5BUp5Q+3rQw6m3Y5Z2Q=", "id": "1003383421387256"},
     Attachment("image-1003383421387256.jpg", "image/jpeg", url="media:1003383421387256"),
     "The dent"),
    ("audio", {"mime_type": "audio/ogg; codecs=opus", "sha256": "x", "id": "2002",
               "voice": True},
     Attachment("audio-2002.ogg", "audio/ogg", url="media:2002"), ""),
    ("video", {"mime_type": "video/mp4", "sha256": "x", "id": "3003"},
     Attachment("video-3003.mp4", "video/mp4", url="media:3003"), ""),
    ("document", {"caption": "Invoice", "filename": "invoice-42.pdf",
                  "mime_type": "application/pdf", "sha256": "x", "id": "4004"},
     Attachment("invoice-42.pdf", "application/pdf", url="media:4004"), "Invoice"),
    ("sticker", {"mime_type": "image/webp", "sha256": "x", "id": "5005", "animated": False},
     Attachment("sticker-5005.webp", "image/webp", url="media:5005"), ""),
])
def test_media_messages(kind: str, media: dict[str, Any], attachment: Attachment,
                        text: str) -> None:
    item = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000", "type": kind,
                     kind: media})
    assert item.attachments == [attachment]
    assert item.text == text
    assert item.metadata["media_id"] == media["id"]


def test_hostile_media_fields() -> None:
    item = received({"from": WA_ID, "id": WAMID, "type": "document", "document": {
        "filename": "../../etc/passwd", "mime_type": "text/html\r\nX: y", "id": "77"}})
    assert item.attachments == [Attachment("passwd", "application/octet-stream",
                                           url="media:77")]
    payload = BUILDER.notification(messages=[
        {"from": WA_ID, "id": "wamid.\u0000", "type": "text", "text": {"body": "nul id"}},
        {"from": WA_ID, "id": WAMID, "type": "image", "image": {"id": "a b"}}])
    assert CLOUD.handle_webhook(cloud_config(), signed_post(payload)).messages == []


def test_interactive_replies() -> None:
    button = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000",
                       "type": "interactive", "context": {"from": "15550783881",
                                                          "id": OUR_WAMID},
                       "interactive": {"type": "button_reply", "button_reply": {
                           "id": "track-order", "title": "Track my order"}}})
    assert button.text == "Track my order"
    assert button.metadata["reply_id"] == "track-order"
    assert button.thread_refs == [OUR_WAMID]
    listed = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000",
                       "type": "interactive", "interactive": {
                           "type": "list_reply", "list_reply": {
                               "id": "slot-2", "title": "Tuesday 10:00",
                               "description": "Morning slot"}}})
    assert listed.text == "Tuesday 10:00"
    assert listed.metadata["reply_description"] == "Morning slot"


def test_template_quick_reply_button() -> None:
    item = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000", "type": "button",
                     "context": {"from": "15550783881", "id": OUR_WAMID},
                     "button": {"payload": "STOP_PROMOS", "text": "Stop promotions"}})
    assert item.text == "Stop promotions"
    assert item.metadata["button_payload"] == "STOP_PROMOS"


def test_location() -> None:
    item = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000",
                     "type": "location", "location": {
                         "latitude": 37.483307, "longitude": 122.148981,
                         "name": "Pablo Morales", "address": "1 Hacker Way, Menlo Park"}})
    assert item.text == ("Location: Pablo Morales, 1 Hacker Way, Menlo Park "
                         "(37.483307, 122.148981)")
    assert item.metadata["location"]["latitude"] == 37.483307


def test_reactions() -> None:
    item = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000",
                     "type": "reaction", "reaction": {"message_id": OUR_WAMID,
                                                      "emoji": "👍"}})
    assert item.text == "👍"
    assert item.thread_refs == [OUR_WAMID]
    assert item.metadata["reaction_to"] == OUR_WAMID
    removed = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000",
                        "type": "reaction", "reaction": {"message_id": OUR_WAMID}})
    assert removed.text == "" and removed.metadata["reaction_removed"] is True


def test_unsupported_messages_are_kept_with_meta_errors() -> None:
    item = received({"from": WA_ID, "id": WAMID, "timestamp": "1718712000",
                     "type": "unsupported", "errors": [{
                         "code": 131051, "title": "Message type unknown",
                         "message": "Message type unknown",
                         "error_data": {"details": "Message type is currently not supported."}}]})
    assert "cannot be shown" in item.text
    assert item.metadata["unsupported"] is True
    assert item.metadata["errors"][0]["code"] == 131051


def test_statuses() -> None:
    failed = status_event(OUR_WAMID, "failed", WA_ID, errors=[{
        "code": 131047, "title": "Re-engagement message",
        "message": "Re-engagement message",
        "error_data": {"details": "Message failed to send because more than 24 hours have "
                                  "passed since the customer last replied to this number."}}])
    failed["timestamp"] = "1718712000"
    payload = BUILDER.notification(statuses=[
        status_event(OUR_WAMID, "sent", WA_ID), status_event(OUR_WAMID, "delivered", WA_ID),
        status_event(OUR_WAMID, "read", WA_ID), failed,
        status_event(OUR_WAMID, "deleted", WA_ID)])
    result = CLOUD.handle_webhook(cloud_config(), signed_post(payload))
    assert result.messages == []
    assert [s.status for s in result.statuses] == [
        DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ,
        DeliveryStatus.FAILED]
    last = result.statuses[-1]
    assert last.external_id == OUR_WAMID
    assert last.at == datetime(2024, 6, 18, 12, 0, tzinfo=UTC)
    assert last.reason is not None
    assert last.reason.startswith("WhatsApp: Re-engagement message: Message failed")
    assert last.reason.endswith("(code 131047)")


def test_other_numbers_and_other_fields_are_ignored() -> None:
    foreign = BUILDER.notification(messages=[text_message(WA_ID, "for another number")],
                                   phone_number_id="999999999999999")
    ours = BUILDER.notification(messages=[text_message(WA_ID, "for us")])
    foreign["entry"] += ours["entry"]
    foreign["entry"][0]["changes"].append(
        {"field": "message_template_status_update",
         "value": {"event": "APPROVED", "message_template_name": "order_update"}})
    result = CLOUD.handle_webhook(cloud_config(), signed_post(foreign))
    assert [m.text for m in result.messages] == ["for us"]


def test_an_unreadable_item_is_skipped_and_the_rest_kept() -> None:
    payload = BUILDER.notification(messages=[
        {"id": WAMID, "type": "text", "text": {"body": "no sender"}},
        {"from": "not-digits", "id": WAMID, "type": "text", "text": {"body": "bad sender"}},
        text_message(WA_ID, "fine")], statuses=[{"status": "read"}])
    result = CLOUD.handle_webhook(cloud_config(), signed_post(payload))
    assert [m.text for m in result.messages] == ["fine"]
    assert result.statuses == []


@pytest.mark.parametrize("body", [
    b"not json", b"[]", b'{"object": "page", "entry": []}', b'{"object": 1}',
    b'{"object": "whatsapp_business_account"}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",'
    b' "value": {"metadata": 5}}]}]}',
    b'{"object": "whatsapp_business_account", "entry": [{"changes": [{"field": "messages",'
    b' "value": {"metadata": {"phone_number_id": "' + b"1" * 15 + b'"}, "messages": [{"from":'
    b' "16505551234", "id": "x", "type": "location", "location": {"latitude": NaN, '
    b'"longitude": 0}}]}}]}]}',
    b"[" * 100_000 + b"]" * 100_000,
    b"\xff\xfe",
])
def test_malformed_signed_bodies_are_payload_invalid(body: bytes) -> None:
    headers = {"x-hub-signature-256": hub_signature(FAKE_APP_SECRET, body)}
    with pytest.raises(PayloadInvalid):
        CLOUD.handle_webhook(cloud_config(), post(body, headers))


def test_oversized_bodies_and_other_methods() -> None:
    with pytest.raises(PayloadInvalid, match="larger"):
        CLOUD.handle_webhook(cloud_config(), post(b" " * (MAX_BODY_BYTES + 1), {}))
    with pytest.raises(PayloadInvalid):
        CLOUD.handle_webhook(cloud_config(), WebhookRequest(method="PUT", url=HOOK_URL,
                                                            headers={}, body=b""))
