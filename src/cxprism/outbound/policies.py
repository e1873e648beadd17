"""The sending rules, as a pure function of the facts about one message and ``now``.

Every rule answers one of three ways: send now, defer (until a time, or until a person
lifts a pause), or suppress with a reason. Suppressions come first (an expired message,
no address, no consent, a frequency cap), then deferrals (the marketing kill switch,
quiet hours), then the daily budget, which only matters for a message leaving now.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

TRANSACTIONAL = "transactional"
MARKETING = "marketing"
GRANTED = "granted"
WITHDRAWN = "withdrawn"


HELD_IN_QUIET_HOURS = frozenset({MARKETING, "research", "service"})


@dataclass(frozen=True)
class QuietHours:
    """No sends between ``start`` and ``end`` in the customer's local time (``end`` may be
    the next day) for the listed purposes; transactional messages are not held by default."""

    start: time
    end: time
    purposes: frozenset[str] = HELD_IN_QUIET_HOURS


@dataclass(frozen=True)
class Cap:
    """At most ``limit`` sends per customer within ``window`` for a purpose and medium
    (None: any)."""

    limit: int
    window: timedelta
    purpose: str | None = None
    medium: str | None = None

    def applies(self, purpose: str, medium: str) -> bool:
        return self.purpose in (None, purpose) and self.medium in (None, medium)

    def describe(self) -> str:
        hours = self.window.total_seconds() / 3600
        scope = f"{self.purpose or 'any purpose'} on {self.medium or 'any medium'}"
        return f"{self.limit} per {hours:g} h ({scope})"


@dataclass(frozen=True)
class Facts:
    purpose: str
    medium: str
    now: datetime
    timezone: ZoneInfo
    consent: str | None  # the customer's current decision for this medium and purpose
    has_recipient: bool
    expires_at: datetime | None = None
    marketing_paused: bool = False
    quiet_hours: QuietHours | None = None
    cap_usage: Mapping[Cap, int] = field(default_factory=dict)
    budget_left: int | None = None  # None: no budget for this medium


@dataclass(frozen=True)
class SendNow:
    pass


@dataclass(frozen=True)
class Defer:
    reason: str
    until: datetime | None  # None: until a person lifts the pause
    detail: str


@dataclass(frozen=True)
class Suppress:
    reason: str
    detail: str


Decision = SendNow | Defer | Suppress


def evaluate(facts: Facts) -> Decision:
    return (_suppression(facts) or _deferral(facts) or _budget(facts) or SendNow())


def _suppression(facts: Facts) -> Suppress | None:
    if facts.expires_at is not None and facts.expires_at <= facts.now:
        return Suppress("expired", f"the message expired at {facts.expires_at.isoformat()}")
    if not facts.has_recipient:
        return Suppress("no_address", f"the customer has no {facts.medium} address")
    consent = consent_problem(facts.purpose, facts.medium, facts.consent)
    if consent is not None:
        return consent
    for cap, used in facts.cap_usage.items():
        if cap.applies(facts.purpose, facts.medium) and used >= cap.limit:
            return Suppress("frequency_cap", f"frequency cap reached: {cap.describe()}")
    return None


def consent_problem(purpose: str, medium: str, consent: str | None) -> Suppress | None:
    """A withdrawn consent always blocks; anything but transactional needs a grant."""
    if consent == WITHDRAWN:
        return Suppress("consent_withdrawn",
                        f"the customer withdrew consent for {purpose} on {medium}")
    if purpose != TRANSACTIONAL and consent != GRANTED:
        return Suppress("no_consent", f"the customer has not consented to {purpose} on {medium}")
    return None


def _deferral(facts: Facts) -> Defer | Suppress | None:
    if facts.marketing_paused and facts.purpose == MARKETING:
        return Defer("marketing_paused", None, "marketing sends are paused for the workspace")
    quiet = facts.quiet_hours
    if quiet is None or facts.purpose not in quiet.purposes:
        return None
    until = quiet_until(facts.now, facts.timezone, quiet.start, quiet.end)
    if until is None:
        return None
    if facts.expires_at is not None and facts.expires_at <= until:
        return Suppress("expired", "the message would expire before the customer's quiet "
                        f"hours end at {until.isoformat()}")
    return Defer("quiet_hours", until,
                 f"quiet hours {quiet.start:%H:%M}-{quiet.end:%H:%M} ({facts.timezone.key})")


def _budget(facts: Facts) -> Suppress | None:
    if facts.budget_left is not None and facts.budget_left <= 0:
        return Suppress("budget_exceeded",
                        f"the workspace's daily {facts.medium} budget is used up")
    return None


def in_window(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end  # the window wraps past midnight


def quiet_until(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), or None if ``now`` is outside them.

    The end is a local wall-clock time: the first instant at or after it, on the day the
    window ends, so a DST change inside the window still ends it at, say, 08:00 local.
    """
    local = now.astimezone(zone)
    if not in_window(local.time().replace(tzinfo=None), start, end):
        return None
    day = local.date()
    if start > end and local.time().replace(tzinfo=None) >= start:
        day = day + timedelta(days=1)
    wall = datetime.combine(day, end, tzinfo=zone)
    # A wall time in a DST gap does not exist; the round trip moves it past the gap.
    ending = wall.astimezone(ZoneInfo("UTC"))
    return max(ending, now + timedelta(seconds=1))


def parse_clock(value: str) -> time:
    """``HH:MM`` (24 h) -> time; ValueError with a clear message otherwise."""
    try:
        hours, minutes = value.split(":")
        return time(int(hours), int(minutes))
    except (ValueError, TypeError):
        raise ValueError(f"{value!r} is not a time of day as HH:MM") from None


def caps_from(rows: Sequence[Mapping[str, object]]) -> list[Cap]:
    return [Cap(limit=int(str(row["limit"])), window=timedelta(hours=float(str(row["hours"]))),
                purpose=_optional(row.get("purpose")), medium=_optional(row.get("medium")))
            for row in rows]


def _optional(value: object) -> str | None:
    return None if value in (None, "", "*") else str(value)
