"""Choosing the channel for ``channel: best``: a pure ranking of the customer's options.

A candidate is eligible when the workspace has an active channel for the medium, the
customer has an address there, their consent allows the purpose and a template exists
for it. Among eligible ones the best recent engagement wins (a reply counts most, then a
read, then a delivery; failures count against); ties go to the workspace's fallback
order. The reason names the winner's figures and why each other medium lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

REPLIED_WEIGHT = 3
READ_WEIGHT = 2
DELIVERED_WEIGHT = 1
FAILED_WEIGHT = -2
DEFAULT_ORDER = ("whatsapp", "sms", "email", "webchat", "social", "voice")


@dataclass(frozen=True)
class Engagement:
    delivered: int = 0
    read: int = 0
    replied: int = 0
    failed: int = 0

    @property
    def score(self) -> int:
        return (self.replied * REPLIED_WEIGHT + self.read * READ_WEIGHT
                + self.delivered * DELIVERED_WEIGHT + self.failed * FAILED_WEIGHT)

    def describe(self) -> str:
        return (f"score {self.score}: {self.replied} replied, {self.read} read, "
                f"{self.delivered} delivered, {self.failed} failed")


@dataclass(frozen=True)
class Candidate:
    medium: str
    problem: str | None  # why it cannot be used (no channel, no address, no consent)
    engagement: Engagement = Engagement()


@dataclass(frozen=True)
class Choice:
    medium: str | None
    reason: str


def choose(candidates: Sequence[Candidate], order: Sequence[str]) -> Choice:
    ranked_order = list(order) or list(DEFAULT_ORDER)
    position = {medium: i for i, medium in enumerate(ranked_order)}
    eligible = [c for c in candidates if c.problem is None]
    refused = [f"{c.medium}: {c.problem}" for c in candidates if c.problem is not None]
    if not eligible:
        return Choice(None, "no channel can be used: " + "; ".join(refused or ["none set up"]))
    best = min(eligible, key=lambda c: (-c.engagement.score,
                                        position.get(c.medium, len(position)), c.medium))
    others = [f"{c.medium}: {c.engagement.describe()}" for c in eligible if c is not best]
    reason = f"{best.medium}: best recent engagement ({best.engagement.describe()})"
    if all(c.engagement.score == best.engagement.score for c in eligible) and len(eligible) > 1:
        reason = f"{best.medium}: engagement ties, first in the fallback order"
    details = others + refused
    return Choice(best.medium, reason + ("; others: " + "; ".join(details) if details else ""))
