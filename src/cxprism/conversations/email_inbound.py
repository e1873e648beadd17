"""Mail from the SMTP server into conversations.

The SMTP server asks :meth:`accepts` at RCPT time (unknown mailboxes get 550, so mail is
never accepted and then lost) and calls :meth:`deliver` with the raw message; it answers
250 only after :meth:`deliver` returns, that is, after the commit that holds the mail for
every inbox it was addressed to (so a refusal stores it for none of them).
"""

from __future__ import annotations

from cxprism.channels.cache import ChannelCache
from cxprism.channels.email.connector import EmailConnector
from cxprism.conversations.batcher import Delivery, InboundBatcher

EMAIL = EmailConnector.kind


def mailbox_of(address: str) -> str:
    """``support+token@acme.example`` -> ``support@acme.example`` (lower-cased)."""
    local, _, domain = address.strip().strip("<>").lower().rpartition("@")
    return f"{local.split('+', 1)[0]}@{domain}"


class EmailInbound:
    def __init__(self, channels: ChannelCache, batcher: InboundBatcher) -> None:
        self.channels = channels
        self.batcher = batcher

    async def accepts(self, address: str) -> bool:
        return await self.channels.by_address(EMAIL, mailbox_of(address)) is not None

    async def deliver(self, recipients: list[str], raw: bytes) -> None:
        delivery: Delivery = []
        for mailbox in sorted({mailbox_of(r) for r in recipients}):  # To and Cc: once
            opened = await self.channels.by_address(EMAIL, mailbox)
            if opened is None or not isinstance(opened.connector, EmailConnector):
                continue  # disabled between RCPT and DATA: the other inboxes still get it
            result = opened.connector.parse(raw, opened.config, recipients=recipients)
            if result.messages or result.statuses:
                delivery.append((opened, result))
        if delivery:
            await self.batcher.store(delivery)
