"""The rules as a pure function: properties over random facts, times and timezones."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from cxprism.outbound.policies import (
    Cap,
    Defer,
    Facts,
    QuietHours,
    SendNow,
    Suppress,
    evaluate,
    in_window,
    quiet_until,
)

ZONES = st.sampled_from(["UTC", "Europe/Lisbon", "America/New_York", "Asia/Tokyo",
                         "Australia/Lord_Howe", "America/Sao_Paulo", "Asia/Kathmandu"])
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                        timezones=st.just(UTC))
CLOCKS = st.times().map(lambda t: time(t.hour, t.minute))
PURPOSES = st.sampled_from(["transactional", "marketing", "service", "research"])
CONSENTS = st.sampled_from([None, "granted", "withdrawn"])


@given(INSTANTS, ZONES, CLOCKS, CLOCKS)
def test_quiet_hours_end_after_now_outside_the_window_within_a_day(
        now: datetime, name: str, start: time, end: time) -> None:
    zone = ZoneInfo(name)
    until = quiet_until(now, zone, start, end)
    local = now.astimezone(zone).time().replace(tzinfo=None)
    if not in_window(local, start, end):
        assert until is None
        return
    assert until is not None and now < until <= now + timedelta(hours=25)
    ended = until.astimezone(zone).time().replace(tzinfo=None)
    assert not in_window(ended, start, end) or until == now + timedelta(seconds=1)


def facts(**values: object) -> Facts:
    base: dict[str, object] = {
        "purpose": "marketing", "medium": "email", "now": datetime(2026, 1, 1, 12, tzinfo=UTC),
        "timezone": ZoneInfo("UTC"), "consent": "granted", "has_recipient": True}
    return Facts(**{**base, **values})  # type: ignore[arg-type]


@given(PURPOSES, CONSENTS, st.booleans(), st.integers(0, 3), st.one_of(st.none(),
                                                                         st.integers(-1, 2)))
def test_a_withdrawal_always_suppresses_and_only_marketing_waits_for_the_switch(
        purpose: str, consent: str | None, paused: bool, used: int,
        budget: int | None) -> None:
    cap = Cap(limit=2, window=timedelta(days=1))
    decision = evaluate(facts(purpose=purpose, consent=consent, marketing_paused=paused,
                              cap_usage={cap: used}, budget_left=budget))
    if consent == "withdrawn":
        assert isinstance(decision, Suppress) and decision.reason == "consent_withdrawn"
    elif consent is None and purpose != "transactional":
        assert isinstance(decision, Suppress) and decision.reason == "no_consent"
    elif used >= 2:
        assert isinstance(decision, Suppress) and decision.reason == "frequency_cap"
    elif paused and purpose == "marketing":
        assert isinstance(decision, Defer) and decision.until is None
    elif budget is not None and budget <= 0:
        assert isinstance(decision, Suppress) and decision.reason == "budget_exceeded"
    else:
        assert decision == SendNow()


def test_quiet_hours_hold_only_their_purposes() -> None:
    quiet = QuietHours(time(0, 0), time(23, 59))
    held = evaluate(facts(quiet_hours=quiet))
    assert isinstance(held, Defer) and held.reason == "quiet_hours"
    assert evaluate(facts(quiet_hours=quiet, purpose="transactional", consent=None)) == SendNow()
