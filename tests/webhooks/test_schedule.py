"""The retry schedule, Retry-After and the meaning of answers (pure: no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxprism.webhooks.schedule import (
    MAX_ATTEMPTS,
    MAX_RETRY_AFTER,
    SCHEDULE,
    Verdict,
    classify,
    next_attempt_at,
    parse_retry_after,
)

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_the_schedule_is_the_standard_webhooks_one() -> None:
    assert [int(w.total_seconds()) for w in SCHEDULE] == [
        0, 5, 300, 1800, 7200, 18000, 36000, 36000]
    waits = [next_attempt_at(n, NOW, rand=lambda: 0.0) for n in range(1, MAX_ATTEMPTS)]
    assert [int((w - NOW).total_seconds()) for w in waits if w] == [
        5, 300, 1800, 7200, 18000, 36000, 36000]
    assert next_attempt_at(MAX_ATTEMPTS, NOW) is None  # the eighth failure ends it


@given(st.integers(1, MAX_ATTEMPTS - 1), st.floats(0, 1))
def test_jitter_only_ever_adds_up_to_a_fifth(attempt: int, draw: float) -> None:
    at = next_attempt_at(attempt, NOW, rand=lambda: draw)
    assert at is not None
    base = SCHEDULE[attempt]
    assert base <= at - NOW <= base * 1.2


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.SUCCEEDED), (204, Verdict.SUCCEEDED), (299, Verdict.SUCCEEDED),
    (410, Verdict.GONE), (301, Verdict.RETRY), (302, Verdict.RETRY), (304, Verdict.RETRY),
    (400, Verdict.RETRY), (404, Verdict.RETRY), (429, Verdict.RETRY), (500, Verdict.RETRY),
    (503, Verdict.RETRY), (100, Verdict.RETRY), (None, Verdict.RETRY)])
def test_answers_are_classified(status: int | None, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_retry_after_in_seconds_or_as_a_date_and_capped() -> None:
    assert parse_retry_after("120", NOW) == timedelta(seconds=120)
    assert parse_retry_after(" 0 ", NOW) == timedelta(0)
    in_an_hour = format_datetime(NOW + timedelta(hours=1), usegmt=True)
    assert parse_retry_after(in_an_hour, NOW) == timedelta(hours=1)
    past = format_datetime(NOW - timedelta(hours=1), usegmt=True)
    assert parse_retry_after(past, NOW) == timedelta(0)
    assert parse_retry_after("9" * 40, NOW) == MAX_RETRY_AFTER
    far = format_datetime(NOW + timedelta(days=30), usegmt=True)
    assert parse_retry_after(far, NOW) == MAX_RETRY_AFTER
    for junk in (None, "", "soon", "-5", "1.5", "Mon, 99 Foo 2026"):
        assert parse_retry_after(junk, NOW) is None


def test_retry_after_can_push_an_attempt_later_but_never_sooner() -> None:
    later = next_attempt_at(1, NOW, retry_after=timedelta(minutes=2), rand=lambda: 0.0)
    assert later == NOW + timedelta(minutes=2)
    sooner = next_attempt_at(3, NOW, retry_after=timedelta(seconds=1), rand=lambda: 0.0)
    assert sooner == NOW + timedelta(minutes=30)
    assert next_attempt_at(MAX_ATTEMPTS, NOW, retry_after=timedelta(seconds=1)) is None
