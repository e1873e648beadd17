"""The express write: a small PostgreSQL commit of one workspace as one statement.

A commit through a session costs a round trip each for BEGIN, the checks, the COPY (two),
the outbox event and COMMIT. Each round trip is a system call and a turn on the event
loop: together about 1.3 ms of this process's time per commit, more than the rows cost
while requests come one event at a time (``/v1/track``), and every request waiting for
that commit waits for all those turns. Here the checks, the insert (skipping stored
message ids), the per-source counts and the outbox event are one statement, sent outside
any transaction (kit.db.Database.autocommit), so it commits on its own in one round trip.

The statement writes nothing unless every source is active and the workspace holds no
suppressed people: the session path (tracking.ingest.write) knows how to refuse a revoked
source's requests and drop the events of people erased, and takes over then. Large commits
go that way too: COPY costs the database less per row.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table

from cxprism.bus import events
from cxprism.customers.privacy import any_suppressed_sql
from cxprism.kit import pg_unnest
from cxprism.kit.ids import uuid7
from cxprism.tracking import repository as repo
from cxprism.workspaces.auth import active_source_count_sql

_EVENTS = cast(Table, repo.EVENTS)
MAX_ROWS = 250  # above this, COPY's lower cost per row wins over the round trips saved
_COLUMNS = len(_EVENTS.columns)  # the insert's own parameters come first: $1 ... $n


@dataclass(frozen=True)
class SourceTotals:
    """What one source sent in the commit: the messages received, those rejected, and the
    rows (valid messages) now to be stored."""

    received: int
    rejected: int
    rows: int


def _p(number: int, sql_type: str) -> str:
    """The statement's own parameter ``number`` (after the insert's), cast to ``sql_type``."""
    return f"${_COLUMNS + number}::{sql_type}"


_SOURCES, _WORKSPACE, _RECEIVED, _REJECTED, _ROWS = (
    _p(1, "uuid[]"), _p(2, "uuid"), _p(3, "int[]"), _p(4, "int[]"), _p(5, "int[]"))
_EVENT_ID, _EVENT_TYPE, _FIRST, _LAST, _RECEIVED_AT, _OCCURRED = (
    _p(6, "uuid"), _p(7, "text"), _p(8, "bigint"), _p(9, "bigint"), _p(10, "text"),
    _p(11, "timestamptz"))


@functools.cache
def _statement(form: str) -> str:
    """The statement, for the insert's parameters in ``form`` (kit.pg_unnest)."""
    build = pg_unnest.delimited_sql if form == "delimited" else pg_unnest.arrays_sql
    insert = build(_EVENTS, ["workspace_id", "message_id"], ("message_id", "source_id"),
                   "(SELECT ok FROM guard)")
    # The payload is the one tracking.ingest records: the counters' consumer reads both.
    payload = f"""(SELECT jsonb_build_object(
        'first_seq', CASE WHEN tally.stored > 0 THEN {_FIRST} END,
        'last_seq', CASE WHEN tally.stored > 0 THEN {_LAST} END,
        'stored', tally.stored, 'received_at', {_RECEIVED_AT}, 'sources', tally.sources)
        FROM tally)"""  # noqa: S608 (only names and placeholders)
    return f"""WITH guard AS (
    SELECT {active_source_count_sql(_SOURCES)} = cardinality({_SOURCES})
           AND NOT {any_suppressed_sql(_WORKSPACE)} AS ok),
stored AS ({insert}),
per_source AS (SELECT source_id, count(*) AS n FROM stored GROUP BY source_id),
tally AS (
    SELECT coalesce(sum(per_source.n), 0)::int AS stored,
           jsonb_object_agg(s.source::text, jsonb_build_object(
               'received', s.received, 'rejected', s.rejected,
               'deduplicated', s.rows - coalesce(per_source.n, 0), 'suppressed', 0)) AS sources
    FROM unnest({_SOURCES}, {_RECEIVED}, {_REJECTED}, {_ROWS})
         AS s(source, received, rejected, rows)
    LEFT JOIN per_source ON per_source.source_id = s.source),
{events.append_ctes(after="tally", when="(SELECT ok FROM guard)", workspace=_WORKSPACE,
                    event_id=_EVENT_ID, type_=_EVENT_TYPE, payload=payload,
                    occurred_at=_OCCURRED)}
SELECT (SELECT ok FROM guard) AS ok, ARRAY(SELECT message_id FROM stored) AS stored"""  # noqa: S608


async def append(connection: Any, workspace_id: uuid.UUID, rows: Sequence[dict[str, Any]], *,
                 sources: dict[uuid.UUID, SourceTotals], event_type: str,
                 received_at: datetime) -> set[str] | None:
    """Store ``rows`` (complete, in message-id order, their seqs one run) and the commit's
    event; the message ids stored, or None if the statement could not take them (a revoked
    source, a workspace with suppressions) and wrote nothing."""
    try:
        params: Sequence[Any] = pg_unnest.delimited(_EVENTS, rows)
        form = "delimited"
    except pg_unnest.NotDelimitable:
        params, form = pg_unnest.arrays(_EVENTS, rows), "arrays"
    ids = sorted(sources)
    seqs = [row["seq"] for row in rows]
    record = await connection.fetchrow(
        _statement(form), *params, ids, workspace_id, [sources[s].received for s in ids],
        [sources[s].rejected for s in ids], [sources[s].rows for s in ids], uuid7(),
        event_type, min(seqs), max(seqs), received_at.isoformat(), received_at)
    if not record["ok"]:
        return None
    events.notify_committed()
    return set(record["stored"])
