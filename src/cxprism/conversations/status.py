"""Delivery status moves forward only: pure, so its order is tested exhaustively."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from cxprism.channels.protocol import DeliveryStatus

# Providers deliver callbacks out of order; a later rank never gives way to an earlier one.
RANK = {
    DeliveryStatus.RECEIVED: 0, DeliveryStatus.QUEUED: 1, DeliveryStatus.UNKNOWN: 2,
    DeliveryStatus.SENT: 3, DeliveryStatus.DELIVERED: 4, DeliveryStatus.READ: 5,
    DeliveryStatus.FAILED: 6, DeliveryStatus.BOUNCED: 7,
}
MAX_HISTORY = 50


class HasStatus(Protocol):
    status: str
    status_reason: str | None
    status_history: list[object]


def moves_forward(current: DeliveryStatus, new: DeliveryStatus) -> bool:
    if current in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED):
        # A bounce may follow "failed" (a DSN after a relay error), never the other way.
        return new is DeliveryStatus.BOUNCED and current is DeliveryStatus.FAILED
    if new in (DeliveryStatus.FAILED, DeliveryStatus.BOUNCED):
        return True  # a delivered mail can still bounce later
    return RANK[new] > RANK[current]


def advance(message: HasStatus, new: DeliveryStatus, reason: str | None, at: datetime) -> bool:
    """Move ``message`` to ``new`` if that is forward; True when it moved."""
    if not moves_forward(DeliveryStatus(message.status), new):
        return False
    message.status = new.value
    message.status_reason = reason[:500] if reason else None
    entry = {"status": new.value, "at": at.isoformat()}
    if reason:
        entry["reason"] = reason[:500]
    message.status_history = [*message.status_history, entry][-MAX_HISTORY:]
    return True
