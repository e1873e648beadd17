"""Mail from the SMTP server into conversations: one transaction per message and channel.

The SMTP server asks :meth:`accepts` at RCPT time (unknown mailboxes get 550, so mail is
never accepted and then lost) and calls :meth:`deliver` with the raw message; it answers
250 only after :meth:`deliver` returns, that is, after the commit.
"""

from __future__ import annotations

import time

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels import repository as channel_repo
from cxprism.channels.email.connector import EmailConnector
from cxprism.channels.service import OpenChannel, open_channel
from cxprism.conversations.inbound import InboundService
from cxprism.kit.db import Database
from cxprism.kit.storage import Storage

EMAIL = "email"
MAX_CACHED = 10_000


def mailbox_of(address: str) -> str:
    """``support+token@acme.example`` -> ``support@acme.example`` (lower-cased)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


class EmailInbound:
    """``cache_seconds``: how long an inbox lookup is reused (a channel disabled or changed
    takes effect within that time); mail arrives in bursts for the same few inboxes."""

    def __init__(self, db: Database, storage: Storage, cache_seconds: float = 5.0) -> None:
        self.db = db
        self.storage = storage
        self.cache_seconds = cache_seconds
        self._inboxes: dict[str, tuple[float, OpenChannel | None]] = {}

    async def accepts(self, address: str) -> bool:
        return await self._inbox(mailbox_of(address)) is not None

    async def _inbox(self, mailbox: str) -> OpenChannel | None:
        now = time.monotonic()
        cached = self._inboxes.get(mailbox)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.session() as session:
            channel = await channel_repo.channel_by_address(session, EMAIL, mailbox)
        opened = open_channel(channel) if channel is not None else None
        if len(self._inboxes) > MAX_CACHED:
            self._inboxes.clear()
        self._inboxes[mailbox] = (now + self.cache_seconds, opened)
        return opened

    async def deliver(self, recipients: list[str], raw: bytes) -> None:
        """Store the mail for every inbox among ``recipients``, all in one commit (so a
        refusal, an oversized attachment say, stores it for none of them)."""
        async with self.db.session() as session:
            seen: set[str] = set()
            for mailbox in (mailbox_of(r) for r in recipients):
                if mailbox not in seen:  # the same inbox in To and Cc: one message
                    seen.add(mailbox)
                    await self._deliver_to(session, mailbox, recipients, raw)
            await session.commit()

    async def _deliver_to(self, session: AsyncSession, mailbox: str, recipients: list[str],
                          raw: bytes) -> None:
        opened = await self._inbox(mailbox)
        if opened is None or not isinstance(opened.connector, EmailConnector):
            return  # disabled between RCPT and DATA: the other recipients still get it
        result = opened.connector.parse(raw, opened.config, recipients=recipients)
        workspace_id = opened.channel.workspace_id
        await InboundService(session, workspace_id, self.storage).ingest(opened, result)
