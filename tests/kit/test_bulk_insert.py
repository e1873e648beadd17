"""Bulk inserts that skip conflicts store every value exactly, in either wire form.

On PostgreSQL a batch goes as delimited text (kit.pg_unnest) unless one of its values could
be taken for a separator; then it goes as arrays. Both must store what was given.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cxprism.kit import pg_unnest
from cxprism.kit.db import Database, JSONText, insert_many_ignore
from cxprism.tracking.models import TrackedEvent

TABLE = TrackedEvent.__table__
COLUMNS = [c.name for c in TABLE.columns]

# Any text PostgreSQL can hold: every code point but NUL and lone surrogates, so the ASCII
# separators the delimited form uses come up too.
texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"),
                max_size=12)
times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                     timezones=st.just(UTC))
payloads = st.dictionaries(texts, st.none() | st.booleans() | st.integers(-2**53, 2**53)
                           | texts, max_size=3)


def _row(workspace_id: uuid.UUID, seq: int, message_id: str, values: dict[str, Any]) -> dict[
        str, Any]:
    payload = values["payload"]
    if not values.get("pre_serialised", True):  # a plain value: serialised by the insert
        return {**_row(workspace_id, seq, message_id, {**values, "pre_serialised": True}),
                "payload": payload}
    return {"workspace_id": workspace_id, "seq": seq, "source_id": values["source_id"],
            "message_id": message_id, "type": values["type"], "name": values["name"],
            "user_id": values["user_id"], "anonymous_id": values["anonymous_id"],
            "group_id": None, "previous_id": None, "timestamp": values["timestamp"],
            "original_timestamp": values["original_timestamp"], "sent_at": None,
            "received_at": values["received_at"],
            "payload": JSONText(orjson.dumps(payload), payload)}


row_values = st.fixed_dictionaries({
    "source_id": st.uuids(), "type": texts, "name": st.none() | texts,
    "user_id": st.none() | texts, "anonymous_id": st.none() | texts,
    "timestamp": times, "original_timestamp": st.none() | times, "received_at": times,
    "payload": payloads, "pre_serialised": st.booleans()})


async def _stored(db: Database, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
    async with db.session() as session:
        found = await session.execute(select(TrackedEvent).where(
            TrackedEvent.workspace_id == workspace_id).order_by(TrackedEvent.seq))
        return [{name: getattr(e, name) for name in COLUMNS} for e in found.scalars()]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(texts, row_values), min_size=1, max_size=6))
async def test_every_value_is_stored_exactly_and_conflicts_are_skipped(
        db: Database, batch: list[tuple[str, dict[str, Any]]]) -> None:
    workspace_id = uuid.uuid4()
    rows = [_row(workspace_id, seq, message_id, values)
            for seq, (message_id, values) in enumerate(batch)]
    async with db.session() as session:
        inserted = await insert_many_ignore(session, TABLE, rows, ["workspace_id", "message_id"],
                                            "message_id")
        again = await insert_many_ignore(session, TABLE, rows, ["workspace_id", "message_id"],
                                         "message_id")
        await session.commit()
    first_of_each = list({row["message_id"]: row for row in reversed(rows)}.values())
    assert sorted(inserted) == sorted(row["message_id"] for row in first_of_each)
    assert again == []
    expected = sorted(first_of_each, key=lambda row: row["seq"])
    stored = await _stored(db, workspace_id)
    for row in expected:
        row["payload"] = getattr(row["payload"], "value", row["payload"])
    assert stored == expected


def test_ordinary_rows_go_as_delimited_text() -> None:
    rows = [_row(uuid.uuid4(), 1, "m-1", {
        "source_id": uuid.uuid4(), "type": "track", "name": "Viewed", "user_id": None,
        "anonymous_id": "a-1", "timestamp": datetime(2026, 12, 3, 12, 0, 0, 123456, UTC),
        "original_timestamp": None, "received_at": datetime(1969, 7, 20, 20, 17, tzinfo=UTC),
        "payload": {"event": "Viewed"}})]
    params = pg_unnest.delimited(TABLE, rows)
    by_column = dict(zip(COLUMNS, params, strict=True))
    assert by_column["timestamp"] == "1796299200123456"
    assert by_column["received_at"] == str(-14182980 * 1_000_000)
    assert by_column["user_id"] == pg_unnest.NULL_MARK
    assert by_column["payload"] == '{"event":"Viewed"}'


@pytest.mark.parametrize("bad", ["a\x1eb", "\x1f", "tail\x1f"])
def test_a_value_that_looks_like_a_separator_sends_the_batch_as_arrays(bad: str) -> None:
    values = {"source_id": uuid.uuid4(), "type": "track", "name": bad, "user_id": "u",
              "anonymous_id": None, "timestamp": datetime.now(UTC), "original_timestamp": None,
              "received_at": datetime.now(UTC), "payload": {}}
    with pytest.raises(pg_unnest.NotDelimitable):
        pg_unnest.delimited(TABLE, [_row(uuid.uuid4(), 1, "m", values)])


def test_one_row_of_one_empty_string_sends_the_batch_as_arrays() -> None:
    values = {"source_id": uuid.uuid4(), "type": "", "name": None, "user_id": "u",
              "anonymous_id": None, "timestamp": datetime.now(UTC), "original_timestamp": None,
              "received_at": datetime.now(UTC), "payload": {}}
    with pytest.raises(pg_unnest.NotDelimitable):
        pg_unnest.delimited(TABLE, [_row(uuid.uuid4(), 1, "m", values)])


def test_encoding_a_batch_leaves_no_cyclic_garbage() -> None:
    """A PostgreSQL dialect made per call (to compile column types) left reference cycles
    behind on every commit; collecting them stalled the server for tens of milliseconds."""
    import gc

    values = {"source_id": uuid.uuid4(), "type": "track", "name": "n", "user_id": "u",
              "anonymous_id": None, "timestamp": datetime.now(UTC), "original_timestamp": None,
              "received_at": datetime.now(UTC), "payload": {"a": 1}}
    rows = [_row(uuid.uuid4(), seq, f"m{seq}", values) for seq in range(50)]
    pg_unnest.delimited(TABLE, rows)  # the first call may fill caches
    gc.collect()
    gc.disable()
    try:
        for _ in range(20):
            pg_unnest.delimited(TABLE, rows)
            pg_unnest.arrays(TABLE, rows)
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("bad", [True, 3.9])
def test_a_number_that_is_not_an_int_sends_the_batch_as_arrays(bad: object) -> None:
    values = {"source_id": uuid.uuid4(), "type": "track", "name": None, "user_id": "u",
              "anonymous_id": None, "timestamp": datetime.now(UTC), "original_timestamp": None,
              "received_at": datetime.now(UTC), "payload": {}}
    with pytest.raises(pg_unnest.NotDelimitable):  # its codec refuses what str(int()) bends
        pg_unnest.delimited(TABLE, [_row(uuid.uuid4(), bad, "m", values)])  # type: ignore[arg-type]


async def test_a_guarded_insert_stores_only_where_its_condition_holds(db: Database) -> None:
    """The statement other statements build on (tracking.express): a WHERE over the
    selected columns, and several columns returned."""
    if db.dialect != "postgresql":
        return  # the statement is PostgreSQL's
    workspace_id, source_id = uuid.uuid4(), uuid.uuid4()
    values = {"source_id": source_id, "type": "track", "name": None, "user_id": None,
              "anonymous_id": "a", "timestamp": datetime(2026, 12, 4, tzinfo=UTC),
              "original_timestamp": None, "received_at": datetime(2026, 12, 4, tzinfo=UTC),
              "payload": {}}
    rows = [_row(workspace_id, seq, f"m-{seq}", values) for seq in (1, 2, 3)]
    for form, params in (("delimited", pg_unnest.delimited(TABLE, rows)),
                         ("arrays", pg_unnest.arrays(TABLE, rows))):
        build = pg_unnest.delimited_sql if form == "delimited" else pg_unnest.arrays_sql
        sql = build(TABLE, ["workspace_id", "message_id"], ("message_id", "source_id"),
                    "seq <> 2")
        async with db.autocommit() as connection:
            returned = await connection.fetch(sql, *params)
        expected = [("m-1", source_id), ("m-3", source_id)] if form == "delimited" else []
        assert sorted(tuple(r) for r in returned) == expected  # arrays: all stored already
    assert [row["message_id"] for row in await _stored(db, workspace_id)] == ["m-1", "m-3"]
