"""How long a failed job waits before its next attempt: capped exponential, equal jitter."""

from __future__ import annotations

import random
from collections.abc import Callable

BASE_SECONDS = 2.0
CAP_SECONDS = 3600.0
_MAX_EXPONENT = 40  # 2**40 s is far past any cap; stops the float from growing without bound


def retry_delay(attempt: int, *, base: float = BASE_SECONDS, cap: float = CAP_SECONDS,
                rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1 for the first failure).

    Equal jitter: half of the exponential step is fixed and half is random, so retries
    of jobs that failed together spread out, yet no retry comes back almost at once.
    """
    step = min(cap, base * 2.0 ** min(max(attempt - 1, 0), _MAX_EXPONENT))
    return step / 2 + rand() * step / 2
