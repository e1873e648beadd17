"""When to try a delivery again, and what an answer means. Pure: ``now`` and the random
draw are arguments.

The schedule is the Standard Webhooks one: attempts immediately, then after 5 s, 5 min,
30 min, 2 h, 5 h, 10 h and 10 h (eight attempts, about 28 hours). Each wait gets up to
20% of jitter added (never less), so endpoints that failed together do not all come back
at the same second. A ``Retry-After`` (seconds or an HTTP-date) can push the next attempt
later, never sooner, and is capped at ``MAX_RETRY_AFTER`` so one answer cannot park a
delivery for weeks.

Answers: 2xx succeeds; 410 Gone disables the endpoint and gives up; anything else (3xx
too, since redirects are never followed, and every network error or timeout) fails the
attempt and is retried until the schedule ends.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import Enum

from cxprism.kit.clock import ensure_utc

# Waits before attempt 1, 2, ...: the index is the number of the attempt that failed.
SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0), timedelta(seconds=5), timedelta(minutes=5), timedelta(minutes=30),
    timedelta(hours=2), timedelta(hours=5), timedelta(hours=10), timedelta(hours=10))
MAX_ATTEMPTS = len(SCHEDULE)
JITTER = 0.2
MAX_RETRY_AFTER = timedelta(hours=10)


class Verdict(Enum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    GONE = "gone"  # 410: the receiver wants no more; the endpoint is disabled


def classify(status_code: int | None) -> Verdict:
    """``None`` means no HTTP answer at all (refused, timed out, connection error)."""
    if status_code is not None and 200 <= status_code < 300:
        return Verdict.SUCCEEDED
    if status_code == 410:
        return Verdict.GONE
    return Verdict.RETRY


def parse_retry_after(value: str | None, now: datetime) -> timedelta | None:
    """A ``Retry-After`` header as a wait from ``now``, capped; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        wait = timedelta(seconds=int(value[:9]))  # 9 digits: years, far past the cap
    else:
        try:
            wait = ensure_utc(parsedate_to_datetime(value)) - now
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    return max(timedelta(0), min(wait, MAX_RETRY_AFTER))


def next_attempt_at(failed_attempt: int, now: datetime, *,
                    retry_after: timedelta | None = None,
                    rand: Callable[[], float] = random.random) -> datetime | None:
    """When to try after attempt number ``failed_attempt`` (1-based) failed; None when
    the schedule is over and the delivery is given up."""
    if failed_attempt >= MAX_ATTEMPTS:
        return None
    wait = SCHEDULE[max(failed_attempt, 1)]
    wait += wait * JITTER * rand()
    if retry_after is not None:
        wait = max(wait, retry_after)
    return now + wait


@dataclass(frozen=True)
class AttemptResult:
    """What one HTTP call gave: a status code (None: no answer), how long it took, the
    error if any, a short excerpt of the response body and its ``Retry-After``."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    excerpt: str | None = None
    retry_after: str | None = None

    @property
    def verdict(self) -> Verdict:
        return classify(self.status_code)
