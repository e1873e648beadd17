from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fixtures.live import serve_in_loop
from tests.webhooks.helpers import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A real HTTP server on 127.0.0.1 (let through by the test allowlist)."""
    target = Receiver()
    async with serve_in_loop(target) as base:
        target.base = base
        yield target
