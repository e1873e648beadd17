"""Inbound channels by id or address, kept a few seconds: webhooks and mail arrive in
bursts for the same few channels, and each lookup would otherwise cost a query.

A channel disabled or reconfigured takes effect at once in the process that changed it
(the API clears the cache) and within ``seconds`` in the others.
"""

from __future__ import annotations

import time
import uuid

from cxprism.channels import repository as channel_repo
from cxprism.channels.service import OpenChannel, open_channel
from cxprism.kit.db import Database

MAX_ENTRIES = 10_000


class ChannelCache:
    def __init__(self, db: Database, seconds: float = 5.0) -> None:
        self.db = db
        self.seconds = seconds
        self._found: dict[tuple[str, str], tuple[float, OpenChannel | None]] = {}

    async def by_id(self, kind: str, channel_id: uuid.UUID) -> OpenChannel | None:
        return await self._get(("id:" + kind, str(channel_id)))

    async def by_address(self, kind: str, address: str) -> OpenChannel | None:
        return await self._get(("address:" + kind, address))

    def forget(self) -> None:
        """A channel changed in this process: look everything up again."""
        self._found.clear()

    async def _get(self, key: tuple[str, str]) -> OpenChannel | None:
        now = time.monotonic()
        cached = self._found.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        how, kind = key[0].split(":", 1)
        async with self.db.session() as session:
            if how == "id":
                channel = await channel_repo.inbound_channel(session, kind, uuid.UUID(key[1]))
            else:
                channel = await channel_repo.channel_by_address(session, kind, key[1])
        opened = open_channel(channel) if channel is not None else None
        if len(self._found) >= MAX_ENTRIES:
            self._found.clear()
        self._found[key] = (now + self.seconds, opened)
        return opened


def channel_cache_of(state: object) -> ChannelCache:
    found: ChannelCache | None = getattr(state, "channel_cache", None)
    if found is None:
        found = ChannelCache(getattr(state, "db"))  # noqa: B009
        setattr(state, "channel_cache", found)  # noqa: B010
    return found
