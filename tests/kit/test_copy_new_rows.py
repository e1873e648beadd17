"""Loads of rows that are nearly always new: stored exactly, and a taken key fails the load.

On PostgreSQL the load is a binary COPY, here on a writer's pool with its own timestamp
codec (kit.pg_codecs) as the ingestor uses it; on SQLite a plain multi-row insert.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cxprism.kit.db import Database, RowsConflict, copy_new_rows
from tests.kit.test_bulk_insert import TABLE, _row, _stored, row_values, texts

VALUES = {"source_id": uuid.uuid4(), "type": "track", "name": "Viewed", "user_id": "u-1",
          "anonymous_id": None, "timestamp": datetime(2026, 12, 3, 12, 0, 0, 123456, UTC),
          "original_timestamp": None, "received_at": datetime(2026, 12, 3, 12, 0, 1, tzinfo=UTC),
          "payload": {"event": "Viewed"}}


def _as_stored(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**row, "payload": getattr(row["payload"], "value", row["payload"])} for row in rows]


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(texts, row_values), min_size=1, max_size=6,
                      unique_by=lambda item: item[0]))
async def test_every_value_is_stored_exactly(db: Database,
                                             batch: list[tuple[str, dict[str, Any]]]) -> None:
    writer = db.dedicated(1)
    try:
        workspace_id = uuid.uuid4()
        rows = [_row(workspace_id, seq, message_id, values)
                for seq, (message_id, values) in enumerate(batch)]
        async with writer.session() as session:
            await copy_new_rows(session, TABLE, rows)
            await session.commit()
    finally:
        await writer.dispose()
    assert await _stored(db, workspace_id) == _as_stored(rows)


async def test_a_taken_key_fails_the_whole_load(db: Database) -> None:
    workspace_id = uuid.uuid4()
    values = VALUES
    first = [_row(workspace_id, 1, "m-1", values)]
    async with db.session() as session:
        await copy_new_rows(session, TABLE, first)
        await session.commit()
    again = [_row(workspace_id, 2, "m-2", values), _row(workspace_id, 3, "m-1", values)]
    async with db.session() as session:
        with pytest.raises(RowsConflict):
            await copy_new_rows(session, TABLE, again)
        await session.rollback()
    assert [row["message_id"] for row in await _stored(db, workspace_id)] == ["m-1"]


async def test_a_row_without_a_column_stores_null_there(db: Database) -> None:
    workspace_id = uuid.uuid4()
    row = _row(workspace_id, 1, "m-1", VALUES)
    del row["name"], row["user_id"]
    async with db.session() as session:
        await copy_new_rows(session, TABLE, [row])
        await session.commit()
    [stored] = await _stored(db, workspace_id)
    assert (stored["name"], stored["user_id"]) == (None, None)


async def test_a_broken_constraint_other_than_a_taken_key_is_not_a_conflict(
        db: Database) -> None:
    """Only a stored key sends a commit down the careful path; a NULL where none may go is
    an error of its own (on SQLite too, where every constraint is an IntegrityError)."""
    row = {**_row(uuid.uuid4(), 1, "m-1", VALUES), "type": None}
    async with db.session() as session:
        with pytest.raises(Exception) as raised:
            await copy_new_rows(session, TABLE, [row])
        await session.rollback()
    assert not isinstance(raised.value, RowsConflict)
