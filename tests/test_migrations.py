"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from cxprism.kit.db import Database
from cxprism.schema import Base


def _not_a_test_table(name: str | None, type_: str, _parents: Any) -> bool:
    """Tests make tables of their own (``scheduler_test_effects``): not the schema's."""
    return not (type_ == "table" and name is not None and "_test_" in name)


async def test_the_migrated_schema_matches_the_models(db: Database) -> None:
    def differences(connection: Any) -> list[Any]:
        context = MigrationContext.configure(connection, opts={
            "compare_type": True, "include_name": _not_a_test_table})
        return list(compare_metadata(context, Base.metadata))

    async with db.engine.connect() as connection:
        diff = await connection.run_sync(differences)
    assert diff == []


async def test_the_id_indexes_of_tracked_events_are_partial(db: Database) -> None:
    """Alembic does not compare index predicates: migration 0010's are checked here."""
    from sqlalchemy import text

    query = ("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'tracked_events'"
             if db.dialect == "postgresql" else
             "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
             "AND tbl_name = 'tracked_events' AND sql IS NOT NULL")
    async with db.engine.connect() as connection:
        definitions = dict((await connection.execute(text(query))).all())
    assert "user_id IS NOT NULL" in definitions["ix_tracked_events_user"]
    assert "anonymous_id IS NOT NULL" in definitions["ix_tracked_events_anonymous"]


async def test_the_ids_of_tracked_events_compare_as_bytes_on_postgresql(db: Database) -> None:
    """Migration 0011's collation, checked here as alembic may not compare collations."""
    from sqlalchemy import text

    if db.dialect != "postgresql":
        return  # SQLite compares bytes already (BINARY)
    async with db.engine.connect() as connection:
        collations = dict((await connection.execute(text(
            "SELECT column_name, collation_name FROM information_schema.columns "
            "WHERE table_name = 'tracked_events' AND collation_name IS NOT NULL"))).all())
    assert collations == dict.fromkeys(
        ["message_id", "user_id", "anonymous_id", "group_id", "previous_id"], "C")
