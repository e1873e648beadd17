"""Recording domain events: the write side of the transactional outbox.

Services call :func:`record` while they change state. Nothing is written until the
session commits: a ``before_commit`` hook allocates the workspace's next sequence numbers
with an upsert that row-locks the workspace's counter until the commit ends, then inserts
the events. So a workspace's events are numbered gap-free in commit order, a rolled-back
transaction leaves no event, and the counter lock is held only for the commit itself.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import event, insert, text
from sqlalchemy.orm import Session, SessionTransaction

from cxprism.bus.models import OutboxEvent, OutboxSequence
from cxprism.kit.clock import utcnow
from cxprism.kit.db import add_to_counter
from cxprism.kit.ids import uuid7

_PENDING = "cxprism.outbox.pending"
_WROTE = "cxprism.outbox.wrote"


@dataclass(frozen=True)
class DomainEvent:
    id: uuid.UUID
    workspace_id: uuid.UUID
    type: str
    payload: dict[str, Any]
    occurred_at: datetime
    seq: int = 0


@dataclass
class _Listeners:
    on_commit: list[Callable[[], None]] = field(default_factory=list)


_listeners = _Listeners()


def on_events_committed(callback: Callable[[], None]) -> Callable[[], None]:
    """Run ``callback`` after any commit that wrote events (the relay uses it to wake up).

    Returns a function that removes the callback again.
    """
    _listeners.on_commit.append(callback)
    return lambda: _listeners.on_commit.remove(callback)


def record(session: Any, workspace_id: uuid.UUID, type_: str, payload: dict[str, Any]) -> uuid.UUID:
    """Queue a domain event in ``session``'s transaction (AsyncSession or Session).

    The event remembers the innermost transaction (or savepoint) it was recorded in, so
    rolling that back discards it and nothing recorded outside it.
    """
    sync_session: Session = getattr(session, "sync_session", session)
    if not sync_session.in_transaction():
        sync_session.begin()
    scope = sync_session.get_nested_transaction() or sync_session.get_transaction()
    pending: list[tuple[DomainEvent, SessionTransaction]] = sync_session.info.setdefault(
        _PENDING, [])
    event_id = uuid7()
    assert scope is not None
    pending.append((DomainEvent(event_id, workspace_id, type_, payload, utcnow()), scope))
    return event_id


@event.listens_for(Session, "before_commit")
def _write_pending(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint being released: events wait for the outermost commit
    pending = [item for item, _scope in session.info.pop(_PENDING, [])]
    if not pending:
        return
    dialect = session.get_bind().dialect.name
    by_workspace: dict[uuid.UUID, list[DomainEvent]] = defaultdict(list)
    for item in pending:
        by_workspace[item.workspace_id].append(item)
    # A fixed lock order keeps two multi-workspace commits from deadlocking.
    for workspace_id in sorted(by_workspace):
        if dialect == "postgresql":
            _append_in_one_statement(session, workspace_id, by_workspace[workspace_id])
        else:
            _append(session, dialect, workspace_id, by_workspace[workspace_id])
    session.info[_WROTE] = True


def _append(session: Session, dialect: str, workspace_id: uuid.UUID,
            items: list[DomainEvent]) -> None:
    stmt = add_to_counter(dialect, OutboxSequence, {"workspace_id": workspace_id},
                          "last_seq", len(items))
    last = session.execute(stmt.returning(OutboxSequence.last_seq)).scalar_one()
    first = last - len(items) + 1
    session.execute(insert(OutboxEvent), [
        {"id": item.id, "workspace_id": workspace_id, "seq": first + offset,
         "type": item.type, "payload": item.payload, "occurred_at": item.occurred_at}
        for offset, item in enumerate(items)
    ])


# The counter's row lock is held from this statement to the end of the commit, and every
# commit of the workspace waits for it: one round trip instead of two halves that time.
_APPEND_PG = text("""
WITH counter AS (
    INSERT INTO outbox_sequences (workspace_id, last_seq) VALUES (:workspace_id, :count)
    ON CONFLICT (workspace_id)
    DO UPDATE SET last_seq = outbox_sequences.last_seq + EXCLUDED.last_seq
    RETURNING last_seq)
INSERT INTO outbox_events (id, workspace_id, seq, type, payload, occurred_at)
SELECT e.id, :workspace_id, counter.last_seq - :count + e.n, e.type, e.payload::jsonb,
       e.occurred_at
FROM counter, unnest(CAST(:ids AS uuid[]), CAST(:types AS text[]), CAST(:payloads AS text[]),
                     CAST(:times AS timestamptz[])) WITH ORDINALITY
     AS e(id, type, payload, occurred_at, n)
""")


def _append_in_one_statement(session: Session, workspace_id: uuid.UUID,
                             items: list[DomainEvent]) -> None:
    session.execute(_APPEND_PG, {
        "workspace_id": workspace_id, "count": len(items), "ids": [i.id for i in items],
        "types": [i.type for i in items],
        "payloads": [orjson.dumps(i.payload).decode() for i in items],
        "times": [i.occurred_at for i in items]})


def append_ctes(*, after: str, when: str, workspace: str, event_id: str, type_: str,
                payload: str, occurred_at: str) -> str:
    """PostgreSQL: two CTEs, for a caller's single autocommitted statement, that record one
    domain event as the commit hook records them (next seq of the workspace's counter, whose
    row lock lasts to the end of the commit). Call :func:`notify_committed` afterwards.

    The arguments are SQL from the caller's own text (placeholders, expressions, CTE names):
    ``after`` is a one-row CTE that must be complete before the counter is locked, so that
    every writer takes the counter lock last, as the commit hook does, and two writers
    cannot deadlock; ``when`` says whether to record. PostgreSQL runs a statement's CTEs
    in no promised order, only as their outputs are needed: ``after`` must aggregate over
    the RETURNING of every write the statement makes (a ``LIMIT 1`` would not wait).
    """
    return f"""outbox_counter AS (
    INSERT INTO outbox_sequences (workspace_id, last_seq) SELECT {workspace}, 1 FROM {after}
    WHERE {when}
    ON CONFLICT (workspace_id) DO UPDATE SET last_seq = outbox_sequences.last_seq + 1
    RETURNING last_seq),
outbox_event AS (
    INSERT INTO outbox_events (id, workspace_id, seq, type, payload, occurred_at)
    SELECT {event_id}, {workspace}, last_seq, {type_}, {payload}, {occurred_at}
    FROM outbox_counter)"""  # noqa: S608 (only names and placeholders)


def notify_committed() -> None:
    """Wake the relay: a commit that wrote events outside a session (see append_ctes)."""
    for callback in _listeners.on_commit:
        callback()


@event.listens_for(Session, "after_commit")
def _notify(session: Session) -> None:
    if session.info.pop(_WROTE, False):
        notify_committed()


@event.listens_for(Session, "after_soft_rollback")
def _discard(session: Session, rolled_back: SessionTransaction) -> None:
    pending: list[tuple[DomainEvent, SessionTransaction]] = session.info.get(_PENDING, [])
    session.info[_PENDING] = [
        (item, scope) for item, scope in pending if not _within(scope, rolled_back)]
    if rolled_back.parent is None:
        session.info.pop(_WROTE, None)


def _within(scope: SessionTransaction | None, ancestor: SessionTransaction) -> bool:
    while scope is not None:
        if scope is ancestor:
            return True
        scope = scope.parent
    return False
