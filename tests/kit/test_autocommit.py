"""Autocommit connections: each statement commits on its own, and a lost connection is
not handed out again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text

from cxprism.kit.db import Database

# What a connection whose backend was terminated raises, by when asyncpg learns of it.
LOST = (asyncpg.exceptions.ConnectionDoesNotExistError, asyncpg.exceptions.InterfaceError,
        asyncpg.exceptions.InternalClientError, asyncpg.exceptions.AdminShutdownError,
        ConnectionError)


@pytest.fixture
async def writer(db: Database) -> AsyncIterator[Database]:
    """A pool of one connection (PostgreSQL), so a reused connection shows by its pid."""
    if db.dialect != "postgresql":
        pytest.skip("autocommit connections are PostgreSQL's")
    own = Database(db.url, pool_size=1, pre_ping=False)
    try:
        yield own
    finally:
        await own.dispose()


async def _backend_pid(connection: Any) -> int:
    return int(await connection.fetchval("SELECT pg_backend_pid()"))


async def test_each_statement_commits_on_its_own(db: Database) -> None:
    if db.dialect != "postgresql":
        with pytest.raises(RuntimeError, match="PostgreSQL"):
            async with db.autocommit():
                pass
        return
    async with db.session() as session:
        await session.execute(text("DROP TABLE IF EXISTS autocommit_probe"))
        await session.execute(text("CREATE TABLE autocommit_probe (n int PRIMARY KEY)"))
        await session.commit()
    try:
        async with db.autocommit() as connection:
            await connection.execute("INSERT INTO autocommit_probe VALUES (1)")
            assert not connection.is_in_transaction()
            async with db.session() as other:  # another connection sees it at once
                seen = (await other.execute(text("SELECT count(*) FROM autocommit_probe"))
                        ).scalar()
            assert seen == 1
            with pytest.raises(asyncpg.exceptions.UniqueViolationError):
                await connection.execute("INSERT INTO autocommit_probe VALUES (1)")
            await connection.execute("INSERT INTO autocommit_probe VALUES (2)")  # still fine
    finally:
        async with db.session() as session:
            await session.execute(text("DROP TABLE autocommit_probe"))
            await session.commit()


async def test_a_connection_left_in_a_transaction_is_not_handed_out_again(
        writer: Database) -> None:
    async with writer.autocommit() as connection:
        left_pid = await _backend_pid(connection)
        await connection.execute("BEGIN")
    async with writer.autocommit() as connection:
        assert not connection.is_in_transaction()
        assert await _backend_pid(connection) != left_pid


async def _gone(db: Database, pids: set[int]) -> None:
    """Wait until the server has ended these backends (termination is asynchronous)."""
    for _ in range(200):
        async with db.session() as session:
            alive = (await session.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(CAST(:pids AS int[]))"),
                {"pids": sorted(pids)})).scalar_one()
        if alive == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"backends {pids} still alive")


async def test_a_lost_connection_gives_way_to_a_fresh_pool(db: Database) -> None:
    """All the pool's connections die (a restart): at most the first use fails (where the
    driver has not yet seen the socket close), and the next one gets a live connection,
    not the dead peer of the first."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no connections to lose")
    writer = Database(db.url, pool_size=2, pre_ping=False)
    try:
        async with writer.autocommit() as one, writer.autocommit() as two:  # two pooled
            lost = {await _backend_pid(one), await _backend_pid(two)}
        async with db.session() as session:
            await session.execute(text("SELECT pg_terminate_backend(pid) FROM "
                                       "unnest(CAST(:pids AS int[])) AS pid"),
                                  {"pids": sorted(lost)})
        await _gone(db, lost)
        try:
            async with writer.autocommit() as connection:
                assert await _backend_pid(connection) not in lost  # seen closed: skipped
        except LOST:
            pass
        for _ in range(2):
            async with writer.autocommit() as connection:
                assert await _backend_pid(connection) not in lost
    finally:
        await writer.dispose()


async def test_an_error_of_the_statement_keeps_the_connection(writer: Database) -> None:
    """Only a lost or doubtful connection is dropped: a constraint the statement broke, or
    bad input it was given, leaves the connection as good as before."""
    async with writer.autocommit() as connection:
        pid = await _backend_pid(connection)
    with pytest.raises(asyncpg.exceptions.DivisionByZeroError):
        async with writer.autocommit() as connection:
            await connection.fetchval("SELECT 1 / 0")
    async with writer.autocommit() as connection:
        assert await _backend_pid(connection) == pid
    with pytest.raises(RuntimeError):  # not the server's word: the connection is in doubt
        async with writer.autocommit() as connection:
            raise RuntimeError("the caller failed halfway")
    async with writer.autocommit() as connection:
        assert await _backend_pid(connection) != pid


async def test_a_connection_that_failed_otherwise_is_closed_with_the_idle_ones(
        writer: Database) -> None:
    """A caller's error that is not the server's verdict (here a ConnectionError, as a
    lost socket raises) leaves the connection in doubt: it is closed, and so are the idle
    ones (a restart takes them all); a cancellation closes only its own."""
    async with writer.autocommit() as idle:
        pass  # returned: the one idle connection
    with pytest.raises(ConnectionError):
        async with writer.autocommit() as doubtful:
            assert doubtful is idle
            async with writer.autocommit() as second:  # a second one, opened meanwhile
                pass
            raise ConnectionError("lost")
    assert doubtful.is_closed() and second.is_closed()
    async with writer.autocommit() as fresh:
        kept = fresh
    with pytest.raises(asyncio.CancelledError):
        async with writer.autocommit() as cancelled:
            async with writer.autocommit() as other:
                pass
            raise asyncio.CancelledError
    assert cancelled is kept and cancelled.is_closed() and not other.is_closed()
