"""tracking.wire reads messages from the body's bytes: it must decide exactly as to_row."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxprism.tracking.messages import MAX_MESSAGE_BYTES, Envelope, validate_batch
from cxprism.tracking.wire import RawBody, validate_raw

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
SENT = "2026-11-24T12:00:05.250Z"

json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=12))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)
instants = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1),
                        timezones=st.sampled_from([UTC, None]))
time_texts = st.one_of(
    instants.map(lambda t: t.isoformat()),
    instants.map(lambda t: t.isoformat(timespec="milliseconds").replace("+00:00", "Z")),
    st.sampled_from(["", "tomorrow", "2026-02-30T00:00:00Z", "2026-11-24T12:00:00z",
                     "2026-11-24", "2026-11-24T12:00:00.1234567Z", "0001-01-01T00:00:00+01:00"]))
id_texts = st.one_of(st.sampled_from(["u1", "anon-7", " padded ", "", "tab\there", "x" * 256,
                                      "é-ü", "\u2028"]), st.text(max_size=8))
names = st.one_of(st.sampled_from(["Order Completed", "", "   ", "n" * 256]), st.text(max_size=6))
objects = st.one_of(st.none(), st.dictionaries(st.text(max_size=5), json_value, max_size=3),
                    json_value)
FIELDS: dict[str, Any] = {
    "type": st.one_of(st.sampled_from(["track", "page", "screen", "identify", "group",
                                       "alias", "Track", ""]), json_leaf),
    "messageId": st.one_of(id_texts, st.integers(0, 2**64 - 1), st.none()),
    "userId": st.one_of(id_texts, st.integers(-5, 2**64 - 1), st.floats(allow_nan=False,
                                                                     allow_infinity=False),
                        st.none(), st.booleans()),
    "anonymousId": st.one_of(id_texts, st.none()),
    "groupId": st.one_of(id_texts, st.none(), st.integers(0, 9)),
    "previousId": st.one_of(id_texts, st.none()),
    "event": st.one_of(names, st.none(), st.integers(0, 9)),
    "name": st.one_of(names, st.none(), st.integers(0, 9)),
    "timestamp": st.one_of(time_texts, st.none(), st.integers(0, 9)),
    "originalTimestamp": st.one_of(time_texts, st.none()),
    "sentAt": st.one_of(time_texts, st.none()),
    "writeKey": st.sampled_from(["wk_1", ""]),
    "context": objects, "properties": objects, "traits": objects, "integrations": objects,
}
messages = st.one_of(
    st.fixed_dictionaries({"type": st.sampled_from(["track", "page", "identify"]),
                           "anonymousId": st.just("anon-1"), "event": st.just("Viewed"),
                           "timestamp": time_texts},
                          optional={k: v for k, v in FIELDS.items()
                                    if k not in ("type", "anonymousId", "event", "timestamp")}),
    st.fixed_dictionaries({}, optional=FIELDS),
    json_value)


def _comparable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with the stored text read back, and our own generated ids blanked."""
    out = []
    for row in rows:
        generated = row["message_id"].startswith("cxprism-")
        out.append({**row, "payload": orjson.loads(row["payload"].text),
                    "message_id": "generated" if generated else row["message_id"]})
    return out


def _both_ways(body: dict[str, Any], forced_type: str | None = None,
               correct_skew: bool = True) -> None:
    raw = orjson.dumps(body)
    split = RawBody.read(raw, forced_type)
    if split is None:  # a single message not of the common shape: parsed whole, as before
        assert forced_type is not None
        return
    fast_rows, fast_rejections = validate_raw(
        split, Envelope(NOW, split.sent_at, correct_skew), forced_type)
    parsed = orjson.loads(raw)
    messages_ = [parsed] if forced_type else parsed["batch"]
    slow_rows, slow_rejections = validate_batch(
        messages_, Envelope(NOW, None if forced_type else parsed.get("sentAt"), correct_skew),
        forced_type)
    assert _comparable(fast_rows) == _comparable(slow_rows)
    assert fast_rejections == slow_rejections


@settings(max_examples=500, deadline=None)
@given(st.lists(messages, max_size=6), st.one_of(st.none(), st.just(SENT), time_texts),
       st.booleans())
def test_a_batch_read_from_its_bytes_gives_what_parsing_it_gives(
        batch: list[Any], sent_at: str | None, correct_skew: bool) -> None:
    body: dict[str, Any] = {"batch": batch}
    if sent_at is not None:
        body["sentAt"] = sent_at
    _both_ways(body, correct_skew=correct_skew)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({"anonymousId": id_texts, "event": names},
                             optional={k: v for k, v in FIELDS.items()
                                       if k not in ("writeKey", "anonymousId", "event")}),
       st.sampled_from(["track", "page", "identify", "group", "alias", "screen"]))
def test_a_single_message_read_from_its_bytes_gives_what_parsing_it_gives(
        message: dict[str, Any], forced_type: str) -> None:
    _both_ways(message, forced_type)


def _batch_bytes(*messages: bytes) -> bytes:
    return b'{"batch": [' + b", ".join(messages) + b'], "sentAt": "' + SENT.encode() + b'"}'


def test_the_stored_text_is_the_message_as_sent() -> None:
    sent = (b'{ "type" : "track", "anonymousId": "a1", "event": "Viewed",\n'
            b' "properties": {"p": 1.50} }')
    split = RawBody.read(_batch_bytes(sent), None)
    assert split is not None and split.fields is not None
    [row], [] = validate_raw(split, Envelope(NOW, split.sent_at))
    assert row["payload"].text == sent
    assert row["payload"].value == {"type": "track", "anonymousId": "a1", "event": "Viewed",
                                    "properties": {"p": 1.5}}
    assert row["sent_at"] == datetime(2026, 11, 24, 12, 0, 5, 250_000, tzinfo=UTC)
    assert row["timestamp"] == NOW  # no device time: received_at


def test_one_odd_message_leaves_the_others_to_the_fast_path_and_is_judged_alone() -> None:
    good = b'{"type": "track", "anonymousId": "a1", "event": "Viewed"}'
    odd = b'{"type": "track", "userId": 42, "event": "Viewed"}'  # a number: to_row's call
    bad = b'{"type": "track", "anonymousId": "a1"}'
    split = RawBody.read(_batch_bytes(good, odd, bad), None)
    assert split is not None and split.fields is None  # not every message fits the shape
    rows, [rejection] = validate_raw(split, Envelope(NOW, split.sent_at))
    assert [r["user_id"] for r in rows] == [None, "42"]
    assert rejection.index == 2 and "event name" in rejection.reason


@pytest.mark.parametrize("message", [
    b'{"type": "track", "anonymousId": "a1", "event": "E", "properties": {"s": "\xff"}}',
    b'{"type": "track", "anonymousId": "a1", "event": "E", "properties": {"n": 1e400}}',
])
def test_a_message_json_elsewhere_would_refuse_is_refused_alone(message: bytes) -> None:
    """Invalid UTF-8 cannot be stored; a number beyond a double's range is kept as sent."""
    split = RawBody.read(_batch_bytes(message, b'{"type": "page", "anonymousId": "a2"}'), None)
    assert split is not None
    rows, rejections = validate_raw(split, Envelope(NOW, split.sent_at))
    if b"\xff" in message:
        assert [r.index for r in rejections] == [0] and len(rows) == 1
        assert "UTF-8" in rejections[0].reason or "utf-8" in rejections[0].reason
    else:
        assert rejections == [] and rows[0]["payload"].text == message
        assert rows[0]["payload"].value["properties"]["n"] == float("inf")


def test_a_writekey_inside_a_message_is_never_stored() -> None:
    message = b'{"type": "track", "anonymousId": "a1", "event": "E", "writeKey": "wk_secret"}'
    split = RawBody.read(message, "track")
    assert split is not None and split.write_key == "wk_secret"
    [row], [] = validate_raw(split, Envelope(NOW), "track")
    assert b"wk_secret" not in row["payload"].text
    assert "writeKey" not in row["payload"].value


def test_an_oversized_message_is_measured_as_to_row_measures_it() -> None:
    padding = "x" * (MAX_MESSAGE_BYTES - 100)
    fits = orjson.dumps({"type": "track", "anonymousId": "a", "event": "E",
                         "properties": {"p": padding}})
    spaced = fits.replace(b'"p":', b'"p":' + b" " * 200)  # over the limit as sent
    split = RawBody.read(_batch_bytes(fits, spaced), None)
    assert split is not None
    rows, rejections = validate_raw(split, Envelope(NOW, split.sent_at))
    assert len(rows) == 2 and rejections == []  # to_row measures the compact form
    assert rows[1]["payload"].text == fits  # over the limit as sent: to_row stored it


@pytest.mark.parametrize("body", [b"[]", b'"x"', b"{}", b'{"batch": {}}', b"{", b"",
                                  b'{"batch": [' + b"{}," * 2500 + b"{}]}"])
def test_a_body_not_of_the_plain_shape_is_left_to_the_full_parse(body: bytes) -> None:
    assert RawBody.read(body, None) is None


def test_a_batch_of_rejections_names_each_index() -> None:
    split = RawBody.read(_batch_bytes(b'{"type": "track"}', b"3", b'{"type": "nope"}'), None)
    assert split is not None
    rows, rejections = validate_raw(split, Envelope(NOW, split.sent_at))
    assert rows == [] and [r.index for r in rejections] == [0, 1, 2]


def test_skew_is_corrected_with_the_batch_sent_at() -> None:
    device = NOW + timedelta(hours=1)  # the device clock runs an hour fast
    message = orjson.dumps({"type": "track", "anonymousId": "a", "event": "E",
                            "timestamp": (device - timedelta(seconds=3)).isoformat()})
    body = b'{"batch": [' + message + b'], "sentAt": "' + device.isoformat().encode() + b'"}'
    split = RawBody.read(body, None)
    assert split is not None and split.fields is not None
    [row], [] = validate_raw(split, Envelope(NOW, split.sent_at))
    assert row["timestamp"] == NOW - timedelta(seconds=3)
