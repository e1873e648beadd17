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
