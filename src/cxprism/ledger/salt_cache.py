"""Each process's cache of customers' salts (and commitments), per workspace log.

Salts never change but can be deleted (erasure), which bumps the log's erasure count under
its row lock: a process whose cached count differs drops its cache before use. A salt
enters the cache only once it is known committed: read from storage, or made by an append
whose transaction then committed (``after_commit`` of its session); a rolled-back append
leaves nothing behind, so no cached salt can stand for a row that does not exist.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Mapping

from sqlalchemy import event
from sqlalchemy.orm import Session

Salted = tuple[bytes, str]
"""A customer's salt and the commitment made with it."""

SALTS_PER_LOG = 100_000
LOGS = 64
_PENDING = "cxprism.ledger.fresh_salts"

_CACHE: OrderedDict[uuid.UUID, tuple[int, OrderedDict[str, Salted]]] = OrderedDict()


def salts(workspace_id: uuid.UUID, erasures: int) -> OrderedDict[str, Salted]:
    """The workspace's cached salts by customer id text, valid at ``erasures``."""
    held = _CACHE.get(workspace_id)
    if held is None or held[0] != erasures:
        held = (erasures, OrderedDict())
        _CACHE[workspace_id] = held
    _CACHE.move_to_end(workspace_id)
    while len(_CACHE) > LOGS:
        _CACHE.popitem(last=False)
    return held[1]


def remember(cache: OrderedDict[str, Salted], found: Mapping[str, Salted]) -> None:
    cache.update(found)
    while len(cache) > SALTS_PER_LOG:
        cache.popitem(last=False)


def forget(workspace_id: uuid.UUID) -> None:
    """Drop the workspace's cache (an erasure deleted salts)."""
    _CACHE.pop(workspace_id, None)


def remember_after_commit(session: Session, workspace_id: uuid.UUID, erasures: int,
                          fresh: Mapping[str, Salted]) -> None:
    """Cache salts this transaction made, once (and only if) it commits, under the erasure
    count they were made at: an erasure in the same transaction bumps the count, so they
    are never used after it."""
    if not fresh:
        return
    pending: dict[tuple[uuid.UUID, int], dict[str, Salted]] = session.info.setdefault(
        _PENDING, {})
    pending.setdefault((workspace_id, erasures), {}).update(fresh)


@event.listens_for(Session, "after_commit")
def _promote(session: Session) -> None:
    for (workspace_id, erasures), fresh in session.info.pop(_PENDING, {}).items():
        held = _CACHE.get(workspace_id)
        if held is not None and held[0] != erasures:
            continue  # an erasure since: the cache was rebuilt without these
        remember(salts(workspace_id, erasures), fresh)


@event.listens_for(Session, "after_soft_rollback")
def _discard(session: Session, previous_transaction: object) -> None:
    # Every rollback, a savepoint's too: caching less than could be is harmless.
    session.info.pop(_PENDING, None)
