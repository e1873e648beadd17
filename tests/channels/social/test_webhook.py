"""Signed social webhooks: every item type, batches with bad items, and hostile input."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from cxprism.channels.protocol import (
    Address,
    ItemKind,
    PayloadInvalid,
    SignatureInvalid,
    WebhookConnector,
    WebhookResult,
)
from cxprism.channels.social import SocialConfig, SocialConnector
from cxprism.channels.social.connector import MAX_ITEMS
from tests.channels.social.helpers import (
    INBOUND_SECRET,
    OTHER_SECRET,
    REPLY_SECRET,
    minutes_ago,
    signed_request,
)

CONFIG = SocialConfig(network="twitter", account="AcmeSupport", inbound_secret=INBOUND_SECRET)
connector = SocialConnector()


def item(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "type": "post", "id": "1790001", "network": "twitter",
        "author": {"handle": "@Jane_Doe", "name": "Jane Doe", "id": "4242"},
        "text": "My order #123 never arrived <script>alert(1)</script>",
        "url": "https://twitter.com/jane_doe/status/1790001", "public": True,
        "created_at": "2024-05-01T09:30:00+02:00", "in_reply_to": None, "thread_id": None,
        "language": "en", "attachments": [],
    }
    return base | changes


def post(body: Any, secret: str = INBOUND_SECRET) -> WebhookResult:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return connector.handle_webhook(CONFIG, signed_request(raw, secret))


def answer(result: WebhookResult) -> dict[str, Any]:
    assert result.status_code == 200
    assert result.content_type == "application/json"
    document: dict[str, Any] = json.loads(result.body)
    return document


def test_the_connector_speaks_the_webhook_protocol() -> None:
    assert isinstance(connector, WebhookConnector)
    assert connector.kind == "social"
    assert connector.secret_fields == {"inbound_secret", "reply_secret"}
    assert connector.address_of(CONFIG) == "twitter:AcmeSupport"


def test_a_post_is_mapped_to_an_inbound_item() -> None:
    result = post(item())
    assert answer(result) == {"accepted": 1, "rejected": []}
    [message] = result.messages
    assert message.kind is ItemKind.POST
    assert message.external_id == "twitter:1790001"
    assert message.sender == [Address(kind="social", namespace="twitter", value="jane_doe")]
    assert message.sender_name == "Jane Doe"
    assert message.text == "My order #123 never arrived <script>alert(1)</script>"
    assert message.html is None  # plain text: the service escapes it
    assert message.thread_refs == []
    assert message.thread_key == "twitter:1790001"
    assert message.sent_at == datetime(2024, 5, 1, 7, 30, tzinfo=UTC)
    assert message.metadata == {
        "network": "twitter", "url": "https://twitter.com/jane_doe/status/1790001",
        "public": True, "rating": None, "author_id": "4242", "language": "en"}


@pytest.mark.parametrize(("type_", "kind"), [
    ("post", ItemKind.POST), ("comment", ItemKind.COMMENT), ("mention", ItemKind.MENTION),
    ("review", ItemKind.REVIEW), ("direct_message", ItemKind.MESSAGE)])
def test_each_item_type_has_its_kind(type_: str, kind: ItemKind) -> None:
    [message] = post(item(type=type_, public=None)).messages
    assert message.kind is kind
    assert message.metadata["public"] is (type_ != "direct_message")


def test_a_comment_refers_to_its_parent_and_thread() -> None:
    [message] = post(item(type="comment", id="2", in_reply_to="1", thread_id="0")).messages
    assert message.thread_refs == ["twitter:1"]
    assert message.thread_key == "twitter:0"


def test_a_review_carries_its_rating_and_numeric_ids_become_text() -> None:
    [message] = post(item(type="review", id=98765, rating=2,
                          author={"handle": "Bob", "id": 7})).messages
    assert message.external_id == "twitter:98765"
    assert message.metadata["rating"] == 2
    assert message.metadata["author_id"] == "7"
    assert message.sender[0].value == "bob"


def test_the_network_defaults_to_the_channels_and_unknown_fields_are_ignored() -> None:
    raw = item(favourites=12, author={"handle": "x", "followers": 9})
    del raw["network"]
    [message] = post(raw).messages
    assert message.metadata["network"] == "twitter"


def test_attachments_are_kept_as_links() -> None:
    links = [{"url": "https://pbs.example.com/media/a1.jpg", "content_type": "image/JPEG"},
             {"url": "https://pbs.example.com/"}]
    [message] = post(item(attachments=links)).messages
    assert [(a.filename, a.content_type, a.url, a.data) for a in message.attachments] == [
        ("a1.jpg", "image/jpeg", links[0]["url"], b""),
        ("attachment", "application/octet-stream", links[1]["url"], b"")]


def test_a_batch_keeps_valid_items_and_reports_each_invalid_one() -> None:
    batch = {"items": [
        item(id="1"),
        item(id="2", url="javascript:alert(document.cookie)"),
        item(id="3", network="facebook"),
        "not an object",
        item(id="5", type="story"),
        item(id="6", rating=5),
        item(id="7", type="comment"),
    ]}
    result = post(batch)
    document = answer(result)
    assert document["accepted"] == 2
    assert [m.external_id for m in result.messages] == ["twitter:1", "twitter:7"]
    reasons = {entry["index"]: entry["reason"] for entry in document["rejected"]}
    assert set(reasons) == {1, 2, 3, 4, 5}
    assert "url" in reasons[1] and "http" in reasons[1]
    assert "facebook" in reasons[2]
    assert "object" in reasons[3]
    assert reasons[4].startswith("type:")
    assert "only allowed on reviews" in reasons[5]


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<b>x</b>",
    "vbscript:x", "https://", "//evil.example.com/x", "https://exa mple.com/",
    "https://example.com/\x00", "ftp://example.com/file",
])
def test_links_that_are_not_http_are_rejected(url: str) -> None:
    document = answer(post(item(url=url)))
    assert document["accepted"] == 0
    assert document["rejected"][0]["reason"].startswith("url:")


@pytest.mark.parametrize(("changes", "field"), [
    ({"text": "x" * 20_001}, "text"),
    ({"author": {"handle": "h" * 256}}, "author.handle"),
    ({"author": {"handle": "@"}}, "author.handle"),
    ({"author": {"handle": "bad\x00handle"}}, "author.handle"),
    ({"id": ""}, "id"),
    ({"id": "i" * 256}, "id"),
    ({"type": "review", "rating": 6}, "rating"),
    ({"type": "review", "rating": 4.5}, "rating"),
    ({"created_at": "not a date"}, "created_at"),
    ({"created_at": "0001-01-01T00:00:00Z"}, "created_at"),
    ({"language": "english please"}, "language"),
    ({"attachments": [{"url": "javascript:x"}]}, "attachments.0.url"),
    ({"attachments": [{"url": "https://a.example/x"}] * 21}, "attachments"),
    ({"network": "Not A Network!"}, "network"),
])
def test_invalid_fields_are_named_in_the_reason(changes: dict[str, Any], field: str) -> None:
    document = answer(post(item(**changes)))
    assert document["accepted"] == 0
    assert document["rejected"][0]["reason"].startswith(f"{field}:")


def test_text_at_the_limit_and_a_long_handle_at_the_limit_are_accepted() -> None:
    [message] = post(item(text="é" * 20_000, author={"handle": "@" + "H" * 255})).messages
    assert len(message.text) == 20_000
    assert message.sender[0].value == "h" * 255


def test_reasons_do_not_echo_the_input() -> None:
    document = answer(post(item(url="javascript:SECRET_PAYLOAD")))
    assert "SECRET_PAYLOAD" not in document["rejected"][0]["reason"]


def test_all_items_invalid_is_still_an_authentic_200() -> None:
    document = answer(post({"items": [{"type": "post"}, {}]}))
    assert document["accepted"] == 0
    assert [entry["index"] for entry in document["rejected"]] == [0, 1]


def test_an_empty_batch_is_fine() -> None:
    assert answer(post({"items": []})) == {"accepted": 0, "rejected": []}


def test_too_many_items_are_refused_as_a_whole() -> None:
    answer(post({"items": [item(id=str(i)) for i in range(MAX_ITEMS)]}))
    with pytest.raises(PayloadInvalid, match="at most 500"):
        post({"items": [item(id=str(i)) for i in range(MAX_ITEMS + 1)]})


def test_an_oversized_body_is_refused_before_anything_else() -> None:
    with pytest.raises(PayloadInvalid, match="larger than"):
        post(b'{"items": [' + b" " * (17 * 1024 * 1024) + b"]}")


@pytest.mark.parametrize("body", [
    b"not json", b"", b"[1, 2]", b'"a string"', b'{"items": {"a": 1}}', b'{"items": NaN}',
    b"[" * 100_000, b'{"id": 1' + b"0" * 5000 + b"}",
])
def test_bodies_that_are_not_an_item_or_a_batch_are_payload_errors(body: bytes) -> None:
    with pytest.raises(PayloadInvalid):
        post(body)


def test_the_signature_is_checked_before_the_body_is_read() -> None:
    with pytest.raises(SignatureInvalid):
        post(b"not json", OTHER_SECRET)
    with pytest.raises(SignatureInvalid):
        post(item(), OTHER_SECRET)


def test_a_stale_request_is_refused() -> None:
    request = signed_request(json.dumps(item()).encode(), at=minutes_ago(10))
    with pytest.raises(SignatureInvalid):
        connector.handle_webhook(CONFIG, request)


def test_recipient_is_the_first_social_identity() -> None:
    addresses = [Address("email", "j@example.com"), Address("social", "jane", "twitter"),
                 Address("social", "jane.ig", "instagram")]
    assert connector.recipient_of(CONFIG, addresses) == "jane"
    instagram = CONFIG.model_copy(update={"network": "instagram"})
    assert connector.recipient_of(instagram, addresses) == "jane.ig"  # the channel's network
    assert connector.recipient_of(CONFIG, [Address("phone", "+14155550100")]) is None


@pytest.mark.parametrize("changes", [
    {"network": "Twitter X"},
    {"network": "-twitter"},
    {"network": "a" * 41},
    {"account": ""},
    {"account": "two words"},
    {"inbound_secret": "hunter2"},
    {"reply_url": "http://bridge.example.com/replies", "reply_secret": REPLY_SECRET},
    {"reply_url": "https://user:pw@bridge.example.com/", "reply_secret": REPLY_SECRET},
    {"reply_url": "javascript:alert(1)", "reply_secret": REPLY_SECRET},
    {"reply_url": "https://bridge.example.com/replies"},  # no reply_secret
    {"unknown": 1},
])
def test_invalid_configurations_are_refused(changes: dict[str, Any]) -> None:
    values = {"network": "twitter", "account": "acme", "inbound_secret": INBOUND_SECRET}
    with pytest.raises(ValidationError):
        SocialConfig.model_validate(values | changes)


def test_network_names_follow_the_slug_rule() -> None:
    for network in ("twitter", "google_reviews", "app_store", "x", "tik-tok", "a" * 40):
        config = SocialConfig(network=network, account="acme", inbound_secret=INBOUND_SECRET)
        assert config.network == network
    assert SocialConfig(network="LinkedIn", account="acme",
                        inbound_secret=INBOUND_SECRET).network == "linkedin"
