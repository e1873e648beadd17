"""Call records: transcript rules, rendering and summaries (pure functions)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from cxprism.channels.voice import call_summary, format_duration, render_transcript
from cxprism.channels.voice.calls import (
    MAX_TRANSCRIPT_CHARS,
    MAX_TURNS,
    CallRecord,
    Transcript,
    Turn,
)


def turn(speaker: str = "customer", start: float = 0.0, end: float = 1.0,
         text: str = "hello") -> dict[str, Any]:
    return {"speaker": speaker, "start": start, "end": end, "text": text}


def test_turns_in_order_are_accepted_including_equal_starts() -> None:
    transcript = Transcript.model_validate({"language": "en", "turns": [
        turn(start=0, end=2), turn("agent", 2, 2), turn("system", 2, 5)]})
    assert [t.speaker for t in transcript.turns] == ["customer", "agent", "system"]


def test_a_turn_may_not_end_before_it_starts() -> None:
    with pytest.raises(ValidationError, match="must not end before it starts"):
        Transcript.model_validate({"turns": [turn(start=3.2, end=1.0)]})


def test_turns_out_of_order_are_refused_naming_the_turn() -> None:
    with pytest.raises(ValidationError, match="turn 2 starts before turn 1"):
        Transcript.model_validate({"turns": [turn(start=0), turn(start=5, end=6),
                                             turn(start=4, end=7)]})


@pytest.mark.parametrize("changes", [
    {"start": -1}, {"end": -0.5}, {"start": "nan"}, {"end": "inf"}, {"speaker": "robot"},
    {"text": "a\x00b"}, {"start": 10 * 24 * 3600, "end": 10 * 24 * 3600},
])
def test_bad_turn_values_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Turn.model_validate(turn() | changes)


def test_transcripts_are_bounded_in_turns_and_characters() -> None:
    Transcript.model_validate({"turns": [turn(start=i, end=i) for i in range(MAX_TURNS)]})
    with pytest.raises(ValidationError, match="at most 5000 items"):
        Transcript.model_validate({"turns": [turn(start=i, end=i) for i in range(MAX_TURNS + 1)]})
    half = MAX_TRANSCRIPT_CHARS // 2
    with pytest.raises(ValidationError, match="200,000 are allowed"):
        Transcript.model_validate({"turns": [turn(text="a" * half), turn(text="b" * (half + 1))]})


def test_rendering_labels_speakers_one_line_per_turn() -> None:
    turns = [Turn.model_validate(t) for t in (
        turn("customer", text="My router\nkeeps   dropping."),
        turn("agent", 1, 2, "Let me check."),
        turn("system", 2, 3, "   "),
        turn("system", 3, 4, "Call transferred"),
    )]
    assert render_transcript(turns) == (
        "Customer: My router keeps dropping.\nAgent: Let me check.\nSystem: Call transferred")
    assert render_transcript([]) == ""


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0 s"), (45, "45 s"), (60, "1 min 0 s"), (192, "3 min 12 s"),
    (3600, "1 h 0 min 0 s"), (3725, "1 h 2 min 5 s"), (90000, "25 h 0 min 0 s")])
def test_durations_read_naturally(seconds: int, text: str) -> None:
    assert format_duration(seconds) == text


def test_a_summary_names_direction_duration_and_status() -> None:
    assert call_summary("inbound", 192, "completed") == "Inbound call, 3 min 12 s (completed)"
    assert call_summary("outbound", 0, "busy") == "Outbound call, 0 s (busy)"


def test_a_negative_duration_is_an_error() -> None:
    with pytest.raises(ValueError, match="negative"):
        format_duration(-1)


_SUMMARY = re.compile(
    r"(Inbound|Outbound) call, (?:(\d+) h )?(?:(\d+) min )?(\d+) s \((\w+)\)")


@given(direction=st.sampled_from(["inbound", "outbound"]),
       seconds=st.integers(min_value=0, max_value=10**7),
       status=st.sampled_from(["completed", "missed", "voicemail", "failed", "busy"]))
def test_a_summary_can_be_read_back_exactly(direction: str, seconds: int, status: str) -> None:
    summary = call_summary(direction, seconds, status)
    match = _SUMMARY.fullmatch(summary)
    assert match is not None
    hours, minutes, secs = (int(part) if part else 0 for part in match.group(2, 3, 4))
    assert hours * 3600 + minutes * 60 + secs == seconds
    assert 0 <= secs < 60
    assert match.group(1).lower() == direction
    assert match.group(5) == status
    # A larger unit appears only when needed, and then every smaller one appears too.
    assert (match.group(2) is not None) == (seconds >= 3600)
    assert (match.group(3) is not None) == (seconds >= 60)


@given(st.lists(st.floats(min_value=0, max_value=10_000, allow_nan=False), max_size=30))
def test_sorted_starts_are_always_accepted_and_unsorted_refused(starts: list[float]) -> None:
    turns = [turn(start=s, end=s + 1) for s in starts]
    in_order = starts == sorted(starts)
    try:
        Transcript.model_validate({"turns": turns})
    except ValidationError:
        assert not in_order
    else:
        assert in_order


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "call_id": "c-1", "direction": "inbound", "from": "+14155550100",
        "to": "+14155550199", "started_at": "2024-05-01T09:30:00Z", "status": "completed"}
    return base | changes


def test_the_customer_is_the_caller_inbound_and_the_callee_outbound() -> None:
    inbound = CallRecord.model_validate(record())
    outbound = CallRecord.model_validate(record(direction="outbound"))
    assert (inbound.customer_number, inbound.line_number) == ("+14155550100", "+14155550199")
    assert (outbound.customer_number, outbound.line_number) == ("+14155550199", "+14155550100")


def test_the_duration_falls_back_to_the_end_time() -> None:
    assert CallRecord.model_validate(record(ended_at="2024-05-01T09:33:12Z")).duration == 192
    assert CallRecord.model_validate(record(duration_seconds=5,
                                            ended_at="2024-05-01T09:33:12Z")).duration == 5
    assert CallRecord.model_validate(record()).duration == 0


@pytest.mark.parametrize("changes", [
    {"from": "4155550100"}, {"to": "+0123"}, {"direction": "sideways"}, {"status": "ok"},
    {"duration_seconds": -1}, {"duration_seconds": 1.5}, {"call_id": ""},
    {"ended_at": "2024-05-01T09:00:00Z"}, {"agent_email": "nobody"},
    {"recording": {"url": "javascript:alert(1)"}}, {"started_at": "yesterday"},
])
def test_bad_call_records_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CallRecord.model_validate(record(**changes))
