"""Autocommit connections: each statement commits on its own, and a lost connection is
not handed out again."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cxprism.kit.db import Database


async def test_each_statement_commits_on_its_own(db: Database) -> None:
    if db.dialect != "postgresql":
        with pytest.raises(RuntimeError, match="PostgreSQL"):
            async with db.autocommit():
                pass
        return
    async with db.session() as session:
        await session.execute(text("CREATE TABLE autocommit_probe (n int PRIMARY KEY)"))
        await session.commit()
    async with db.autocommit() as connection:
        await connection.execute("INSERT INTO autocommit_probe VALUES (1)")
        assert not connection.is_in_transaction()
        async with db.session() as other:  # another connection sees it at once
            seen = (await other.execute(text("SELECT count(*) FROM autocommit_probe"))).scalar()
        assert seen == 1
        with pytest.raises(Exception, match="duplicate key"):
            await connection.execute("INSERT INTO autocommit_probe VALUES (1)")
        await connection.execute("INSERT INTO autocommit_probe VALUES (2)")  # still usable


async def test_a_lost_connection_gives_way_to_a_fresh_pool(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no connections to lose")
    writer = Database(db.url, pool_size=2, pre_ping=False)
    try:
        async with writer.autocommit() as connection:
            lost_pid = await connection.fetchval("SELECT pg_backend_pid()")
        async with db.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": lost_pid})
        with pytest.raises(Exception):  # noqa: B017 - asyncpg's error for a closed connection
            async with writer.autocommit() as connection:
                await connection.fetchval("SELECT 1")
        async with writer.autocommit() as connection:
            assert await connection.fetchval("SELECT pg_backend_pid()") != lost_pid
    finally:
        await writer.dispose()
