"""Where a send goes: the channel for a medium (or the best medium), and the recipient's
address on it. One ``Targets`` serves a whole batch of requests: the workspace's channels
are opened once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from cxprism.channels.protocol import Address
from cxprism.channels.service import ChannelService, OpenChannel, open_channel
from cxprism.kit.errors import Unprocessable
from cxprism.outbound.choice import Candidate, Engagement, choose
from cxprism.outbound.mediums import medium_of
from cxprism.outbound.policies import consent_problem
from cxprism.outbound.repository import SendRepository

ENGAGEMENT_WINDOW = timedelta(days=90)


class Customer(Protocol):
    """What the pipeline reads of a profile (the customers service hands it over)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def traits(self) -> dict[str, Any]: ...
    @property
    def locale(self) -> str | None: ...
    @property
    def timezone(self) -> str | None: ...


@dataclass(frozen=True)
class Target:
    medium: str | None
    channel: OpenChannel | None
    recipient: str | None
    choice_reason: str | None


def _medium(opened: OpenChannel) -> str:
    return medium_of(opened.channel.kind)


class Targets:
    def __init__(self, channels: ChannelService, sends: SendRepository) -> None:
        self.channels = channels
        self.sends = sends
        self._by_medium: dict[str, OpenChannel] | None = None
        self._exact: dict[uuid.UUID, OpenChannel] = {}

    async def by_medium(self) -> dict[str, OpenChannel]:
        """The workspace's first active channel of each medium."""
        if self._by_medium is None:
            found: dict[str, OpenChannel] = {}
            for channel in await self.channels.list():
                if channel.is_active:
                    opened = open_channel(channel)
                    found.setdefault(_medium(opened), opened)
            self._by_medium = found
        return self._by_medium

    async def exact(self, channel_id: uuid.UUID, addresses: list[Address]) -> Target:
        opened = self._exact.get(channel_id)
        if opened is None:
            opened = self._exact[channel_id] = await self.channels.open(channel_id)
        if not opened.channel.is_active:
            raise Unprocessable("This channel is disabled.", code="channel_disabled",
                                details={"channel_id": str(channel_id)})
        recipient = opened.connector.recipient_of(opened.config, addresses)
        return Target(_medium(opened), opened, recipient, f"channel {channel_id} was asked for")

    async def for_medium(self, medium: str, addresses: list[Address]) -> Target:
        opened = (await self.by_medium()).get(medium)
        if opened is None:
            return Target(medium, None, None, f"no active {medium} channel")
        recipient = opened.connector.recipient_of(opened.config, addresses)
        return Target(medium, opened, recipient, f"{medium} was asked for")

    async def best(self, customer_id: uuid.UUID, addresses: list[Address], *,
                   consents: dict[str, str], purpose: str, order: list[str],
                   template_mediums: set[str] | None, now: datetime) -> Target:
        """Among mediums with a channel, an address, consent (``consents``: medium ->
        status for this purpose) and, when a template is named, a template: the one
        with the best recent engagement."""
        open_by_medium = await self.by_medium()
        engagement = await self._engagement(customer_id, now)
        candidates: list[Candidate] = []
        recipients: dict[str, str] = {}
        for medium, opened in open_by_medium.items():
            recipient = opened.connector.recipient_of(opened.config, addresses)
            if recipient is not None:
                recipients[medium] = recipient
            problem = consent_problem(purpose, medium, consents.get(medium))
            candidates.append(Candidate(medium, _why_not(
                recipient, problem.detail if problem else None,
                template_mediums is not None and medium not in template_mediums),
                engagement.get(medium, Engagement())))
        choice = choose(candidates, order)
        if choice.medium is None:
            return Target(None, None, None, choice.reason)
        return Target(choice.medium, open_by_medium[choice.medium], recipients[choice.medium],
                      choice.reason)

    async def _engagement(self, customer_id: uuid.UUID, now: datetime
                          ) -> dict[str, Engagement]:
        counts: dict[str, dict[str, int]] = {}
        for medium, status, replied, n in await self.sends.engagement(
                customer_id, now - ENGAGEMENT_WINDOW):
            mine = counts.setdefault(medium, {"delivered": 0, "read": 0, "replied": 0,
                                              "failed": 0})
            if replied:
                mine["replied"] += n
            if status in ("delivered", "read"):
                mine[status] += n
            elif status in ("failed", "bounced"):
                mine["failed"] += n
        return {medium: Engagement(**c) for medium, c in counts.items()}


def _why_not(recipient: str | None, consent: str | None, no_template: bool) -> str | None:
    if recipient is None:
        return "no address"
    if consent is not None:
        return consent
    if no_template:
        return "no template for this medium"
    return None
