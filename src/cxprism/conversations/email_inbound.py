"""Mail from the SMTP server into conversations: one transaction per message and channel.

The SMTP server asks :meth:`accepts` at RCPT time (unknown mailboxes get 550, so mail is
never accepted and then lost) and calls :meth:`deliver` with the raw message; it answers
250 only after :meth:`deliver` returns, that is, after the commit.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels import repository as channel_repo
from cxprism.channels.email.connector import EmailConnector
from cxprism.channels.models import Channel
from cxprism.channels.service import open_channel
from cxprism.conversations.inbound import InboundService
from cxprism.kit.db import Database
from cxprism.kit.storage import Storage

EMAIL = "email"


def mailbox_of(address: str) -> str:
    """``support+token@acme.example`` -> ``support@acme.example`` (lower-cased)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


class EmailInbound:
    def __init__(self, db: Database, storage: Storage) -> None:
        self.db = db
        self.storage = storage

    async def accepts(self, address: str) -> bool:
        async with self.db.session() as session:
            return await channel_repo.channel_by_address(
                session, EMAIL, mailbox_of(address)) is not None

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
        channel: Channel | None = await channel_repo.channel_by_address(session, EMAIL, mailbox)
        if channel is None:
            return  # disabled between RCPT and DATA: the other recipients still get it
        opened = open_channel(channel)
        if not isinstance(opened.connector, EmailConnector):
            return
        result = opened.connector.parse(raw, opened.config, recipients=recipients)
        await InboundService(session, channel.workspace_id, self.storage).ingest(opened, result)
