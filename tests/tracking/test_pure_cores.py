"""Property tests of the pure cores: message validation, clock skew, identity linking."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxprism.customers.identities import IdentityKind, InvalidIdentity, normalise_opaque_id
from cxprism.tracking.linking import facts_of
from cxprism.tracking.messages import (
    MAX_MESSAGE_BYTES,
    TYPES,
    Envelope,
    Rejected,
    opaque_id,
    validate_batch,
)
from cxprism.tracking.timestamps import BadTimestamp, parse_iso8601, resolve_times

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
json_leaf = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_value = st.recursive(json_leaf, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)
times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                     timezones=st.just(UTC))
field_values = st.one_of(json_value, st.sampled_from(sorted(TYPES)), times.map(
    lambda t: t.isoformat()), st.text(min_size=1, max_size=12))
messages = st.one_of(json_value, st.dictionaries(st.sampled_from([
    "type", "event", "name", "userId", "anonymousId", "messageId", "timestamp", "sentAt",
    "originalTimestamp", "properties", "traits", "context", "groupId", "previousId"]),
    field_values, max_size=10))


@settings(max_examples=400, deadline=None)
@given(st.lists(messages, max_size=8))
def test_every_message_is_either_a_valid_row_or_a_rejection_by_index(batch: list[Any]) -> None:
    rows, rejections = validate_batch([_copy(m) for m in batch], Envelope(NOW))
    assert len(rows) + len(rejections) == len(batch)
    assert [r.index for r in rejections] == sorted({r.index for r in rejections})
    for row in rows:
        assert row["type"] in TYPES
        assert row["user_id"] or row["anonymous_id"]
        assert len(row["payload"].text) <= MAX_MESSAGE_BYTES
        assert orjson.loads(row["payload"].text) == row["payload"].value
        assert "writeKey" not in row["payload"].value
        assert row["timestamp"].tzinfo is not None
        if row["type"] == "track":
            assert isinstance(row["name"], str) and row["name"].strip()
    for rejection in rejections:
        assert rejection.reason


def _copy(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))


def test_a_batch_that_is_not_a_list_is_refused_whole() -> None:
    with pytest.raises(Rejected):
        validate_batch({"type": "track"}, Envelope(NOW))


@given(original=times, skew=st.integers(-10**6, 10**6), delay=st.integers(0, 10**5))
def test_clock_skew_correction_keeps_the_device_interval(
        original: datetime, skew: int, delay: int) -> None:
    """A device clock off by ``skew`` seconds: the corrected time is off by nothing."""
    device = timedelta(seconds=skew)
    sent = original + timedelta(seconds=delay)
    received = sent - device  # the server's clock when the device's said `sent`
    resolved = resolve_times(original, sent, received)
    assert resolved.timestamp == original - device
    assert resolved.received_at - resolved.timestamp == sent - original


def test_times_without_sent_at_are_kept_and_without_any_time_are_received_at() -> None:
    past = NOW - timedelta(days=400)
    assert resolve_times(past, None, NOW).timestamp == past
    assert resolve_times(None, None, NOW).timestamp == NOW
    assert resolve_times(past, NOW, NOW, correct_skew=False).timestamp == past


@pytest.mark.parametrize("value", ["tomorrow", "", "2026-02-30T00:00:00Z", 17, [],
                                   "2026-01-01T00:00:00+25:00", "x" * 100])
def test_unparseable_timestamps_are_refused(value: object) -> None:
    with pytest.raises(BadTimestamp):
        parse_iso8601(value, "timestamp")


def test_zone_less_times_are_utc_and_offsets_are_converted() -> None:
    assert parse_iso8601("2026-11-24T12:00:00", "t") == NOW
    assert parse_iso8601("2026-11-24T13:00:00+01:00", "t") == NOW


ids = st.sampled_from(["u1", "u2", "a1", "a2", None])


@settings(max_examples=300)
@given(st.lists(st.fixed_dictionaries({
    "type": st.sampled_from(["track", "page", "identify", "alias", "group"]),
    "user_id": ids, "anonymous_id": ids, "previous_id": ids,
    "traits": st.one_of(st.just({}), st.just({"email": "X@Example.com"}),
                        st.just({"email": "not an email"}))}), max_size=12))
def test_linking_facts_never_repeat_and_every_user_id_is_in_one(rows: list[Any]) -> None:
    facts = facts_of(rows)
    keys = [(f.identities, f.previous_id) for f in facts]
    assert len(keys) == len(set(keys))
    linked = {i.value for f in facts for i in f.identities
              if i.kind is IdentityKind.EXTERNAL_ID}
    assert linked == {r["user_id"] for r in rows if r["user_id"] is not None}
    for fact in facts:
        emails = [i.value for i in fact.identities if i.kind is IdentityKind.EMAIL]
        assert emails in ([], ["x@example.com"])


@pytest.mark.parametrize("type_", [[], {}, 3, None, "x" * 10_000])
def test_an_odd_type_is_a_rejection_not_a_crash(type_: object) -> None:
    rows, [rejection] = validate_batch([{"type": type_, "userId": "u"}], Envelope(NOW))
    assert rows == []
    assert "type must be one of" in rejection.reason
    assert len(rejection.reason) < 200


def _id_the_slow_way(value: str) -> str | None:
    """What every id went through before the fast path: trim, then the customers rule."""
    trimmed = value.strip()
    if not trimmed:
        return None
    try:
        return normalise_opaque_id(trimmed, IdentityKind.EXTERNAL_ID)
    except InvalidIdentity:
        return "refused"


@given(st.text(max_size=300) | st.text(st.characters(max_codepoint=0x3000), min_size=250,
                                       max_size=260))
def test_the_fast_path_for_ids_decides_exactly_as_the_full_check(value: str) -> None:
    try:
        got: str | None = opaque_id(value, "userId")
    except Rejected:
        got = "refused"
    assert got == _id_the_slow_way(value)
