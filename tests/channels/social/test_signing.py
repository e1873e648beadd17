"""Standard Webhooks signatures: the specification's vector, and every way a request fails."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import TypeAdapter, ValidationError
from standardwebhooks.webhooks import Webhook

from cxprism.channels.protocol import SignatureInvalid
from cxprism.channels.social import signing
from tests.channels.social.helpers import INBOUND_SECRET, OTHER_SECRET, minutes_ago, signed_request

VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_specification_vector_is_reproduced_by_the_library() -> None:
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    assert Webhook(VECTOR_SECRET).sign(VECTOR_ID, at, VECTOR_BODY.decode()) == VECTOR_SIGNATURE


def test_our_signing_produces_the_specification_vector() -> None:
    at = datetime.fromtimestamp(VECTOR_TIMESTAMP, UTC)
    headers = signing.sign_headers(VECTOR_SECRET, VECTOR_ID, VECTOR_BODY, at)
    assert headers == {"webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
                       "webhook-signature": VECTOR_SIGNATURE}


def test_the_vector_verifies_at_its_own_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # The library reads the wall clock; pin it to the vector's timestamp to verify it.
    class FrozenDatetime(datetime):
        @classmethod
        def now(cls, tz: object = None) -> FrozenDatetime:
            return cls.fromtimestamp(VECTOR_TIMESTAMP + 10, UTC)

    monkeypatch.setattr("standardwebhooks.webhooks.datetime", FrozenDatetime)
    request = signed_request(VECTOR_BODY)
    request = dataclasses.replace(request, headers={
        "webhook-id": VECTOR_ID, "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": VECTOR_SIGNATURE})
    assert signing.verify(VECTOR_SECRET, request) == VECTOR_ID


def test_a_good_signature_is_accepted_and_its_id_returned() -> None:
    assert signing.verify(INBOUND_SECRET, signed_request(b"{}", msg_id="msg_42")) == "msg_42"


def test_one_of_several_signatures_may_match_during_key_rotation() -> None:
    request = signed_request(b"{}")
    old = signed_request(b"{}", OTHER_SECRET).headers["webhook-signature"]
    headers = dict(request.headers)
    headers["webhook-signature"] = f"{old} {headers['webhook-signature']}"
    assert signing.verify(INBOUND_SECRET, dataclasses.replace(request, headers=headers))


def _with(request_headers: dict[str, str], **changes: str | None) -> dict[str, str]:
    headers = dict(request_headers)
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            headers.pop(key, None)
        else:
            headers[key] = value
    return headers


@pytest.mark.parametrize("changes", [
    {"webhook_signature": None},
    {"webhook_id": None},
    {"webhook_timestamp": None},
    {"webhook_signature": ""},
    {"webhook_signature": "v1,AAAA"},
    {"webhook_signature": "v1"},
    {"webhook_signature": "v1,not base64!"},
    {"webhook_signature": "v2,abc v1,,"},
    {"webhook_signature": "v1," + "A" * 5000},
    {"webhook_timestamp": "yesterday"},
    {"webhook_timestamp": "nan"},
    {"webhook_timestamp": "1e300"},
    {"webhook_id": "msg_other"},
    {"webhook_id": "m" * 300},
], ids=repr)
def test_a_missing_or_malformed_header_is_refused(changes: dict[str, str | None]) -> None:
    request = signed_request(b'{"a": 1}')
    tampered = dataclasses.replace(request, headers=_with(request.headers, **changes))
    with pytest.raises(SignatureInvalid):
        signing.verify(INBOUND_SECRET, tampered)


def test_another_secret_or_an_altered_body_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        signing.verify(INBOUND_SECRET, signed_request(b"{}", OTHER_SECRET))
    request = signed_request(b'{"a": 1}')
    with pytest.raises(SignatureInvalid):
        signing.verify(INBOUND_SECRET, dataclasses.replace(request, body=b'{"a": 2}'))


@pytest.mark.parametrize("minutes", [6, -6, 60 * 24])
def test_a_stale_or_future_timestamp_is_refused(minutes: float) -> None:
    with pytest.raises(SignatureInvalid, match=r"too (old|new)"):
        signing.verify(INBOUND_SECRET, signed_request(b"{}", at=minutes_ago(minutes)))


def test_a_timestamp_within_tolerance_is_accepted() -> None:
    assert signing.verify(INBOUND_SECRET, signed_request(b"{}", at=minutes_ago(4)))


def test_a_body_that_is_not_utf8_cannot_be_verified() -> None:
    with pytest.raises(SignatureInvalid):
        signing.verify(INBOUND_SECRET, signed_request(b"\xff\xfe{}"))


@pytest.mark.parametrize("secret", [
    "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
    "whsec_",
    "whsec_c2hvcnQ=",  # too short a key
    "whsec_not*base64*at*all*really*not",
    "whsec_" + "A" * 100,  # 75 bytes: too long
])
def test_secrets_must_be_whsec_base64_of_a_sensible_length(secret: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(signing.WebhookSecret).validate_python(secret)


def test_unpadded_secrets_are_accepted() -> None:
    unpadded = INBOUND_SECRET.rstrip("=")
    assert TypeAdapter(signing.WebhookSecret).validate_python(unpadded) == unpadded
    assert TypeAdapter(signing.WebhookSecret).validate_python(VECTOR_SECRET) == VECTOR_SECRET


def test_webhook_ids_are_stable_per_key_and_fresh_without_one() -> None:
    assert signing.webhook_id_for("reply-123:abc") == "reply-123:abc"
    unsafe = "reply to ünïcode\r\nInjected: yes"
    assert signing.webhook_id_for(unsafe) == signing.webhook_id_for(unsafe)
    assert signing.webhook_id_for(unsafe).startswith("msg_")
    assert "\n" not in signing.webhook_id_for(unsafe)
    assert signing.webhook_id_for(None) != signing.webhook_id_for(None)


def test_signed_headers_verify_with_the_library() -> None:
    now = datetime.now(UTC) - timedelta(seconds=1)
    body = '{"text": "héllo"}'.encode()
    headers = signing.sign_headers(INBOUND_SECRET, "msg_x", body, now)
    assert Webhook(INBOUND_SECRET).verify(body, headers) == {"text": "héllo"}
