"""Per-channel send rates (providers limit messages per second per account or number).

A token bucket per channel in this process; the rate comes from the workspace policy's
``rate_limits`` (connector kind -> sends per second). With several worker processes each
keeps its own bucket, so set the rate per process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    rate: float
    tokens: float
    at: float


class Throttle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.rates: dict[uuid.UUID, float] = {}
        self.buckets: dict[uuid.UUID, _Bucket] = {}

    def set_rate(self, channel_id: uuid.UUID, per_second: float | None) -> None:
        if per_second is None or per_second <= 0:
            self.rates.pop(channel_id, None)
        else:
            self.rates[channel_id] = per_second

    def delay(self, channel_id: uuid.UUID) -> float:
        """Take a token; the seconds to wait before using it (0 when one is free)."""
        rate = self.rates.get(channel_id)
        if rate is None:
            return 0.0
        now = self.clock()
        bucket = self.buckets.get(channel_id)
        if bucket is None or bucket.rate != rate:
            bucket = self.buckets[channel_id] = _Bucket(rate, max(1.0, rate), now)
        bucket.tokens = min(max(1.0, rate), bucket.tokens + (now - bucket.at) * rate)
        bucket.at = now
        bucket.tokens -= 1
        return 0.0 if bucket.tokens >= 0 else -bucket.tokens / rate

    async def wait(self, channel_id: uuid.UUID) -> None:
        seconds = self.delay(channel_id)
        if seconds > 0:
            await asyncio.sleep(seconds)
