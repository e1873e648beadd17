"""A send's state changes: each one appended to its history and announced as an event.

Provider statuses only move a send forward (a late ``delivered`` callback never undoes a
``read``); the pipeline's own states (queued, deferred, sending) move as the rules say.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cxprism.bus import events
from cxprism.outbound.models import Send

FINAL = frozenset({"suppressed", "failed", "bounced", "cancelled", "unknown"})
# Provider progress, lowest first; failure states end it.
_PROGRESS = {"sent": 1, "delivered": 2, "read": 3}
_EVENT_OF = {"queued": "outbound.queued", "deferred": "outbound.deferred",
             "suppressed": "outbound.suppressed", "sent": "outbound.sent"}
MAX_DETAIL = 2000


def move(session: Any, send: Send, status: str, now: datetime, *, reason: str | None = None,
         detail: str | None = None) -> None:
    previous = send.status
    send.status, send.reason = status, reason
    send.detail = detail[:MAX_DETAIL] if detail else None
    entry: dict[str, Any] = {"status": status, "at": now.isoformat()}
    if reason:
        entry["reason"] = reason
    if detail:
        entry["detail"] = detail[:MAX_DETAIL]
    send.history = [*send.history, entry]
    send.updated_at = now
    if status != "sending":  # the in-flight marker is internal, not news
        events.record(session, send.workspace_id, _EVENT_OF.get(status, "outbound.status_changed"),
                      {"send_id": str(send.id), "customer_id": str(send.customer_id),
                       "channel_kind": send.medium, "purpose": send.purpose, "status": status,
                       "previous": previous, "reason": reason})


def provider_update(session: Any, send: Send, status: str, now: datetime,
                    detail: str | None = None) -> bool:
    """A provider's status callback; False when it would move the send backwards."""
    if send.status in FINAL - {"unknown"} or send.status == status:
        return False
    if status in _PROGRESS and _PROGRESS.get(send.status, 0) >= _PROGRESS[status]:
        return False
    if send.status not in _PROGRESS and send.status != "unknown":
        return False  # not sent yet: a callback cannot be about this send
    move(session, send, status, now, reason=None if status in _PROGRESS else status,
         detail=detail)
    return True
