"""Blocks of numbers handed out without a lock that lasts until commit.

PostgreSQL: a sequence whose increment is the block size; ``nextval`` is never rolled
back and never waits for another transaction, so concurrent writers each get a block at
once. SQLite has a single writer: a counter row in the writer's own transaction does.
A block a rolled-back transaction took is simply never used (a gap).

:class:`BlockRuns` cuts runs of numbers from a block for as long as it lasts, so that on
PostgreSQL a writer pays one round trip per block instead of one per commit.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import BigInteger, String, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.db import add_to_counter
from cxprism.kit.models import Base

BLOCK_SIZE = 10_000  # also the PostgreSQL sequences' INCREMENT BY (see the migrations)


class SequenceBlock(Base):
    __tablename__ = "sequence_blocks"

    name: Mapped[str] = mapped_column(String(63), primary_key=True)
    last_value: Mapped[int] = mapped_column(BigInteger)


async def reserve_block(session: AsyncSession, name: str) -> int:
    """The first number of a fresh block of :data:`BLOCK_SIZE` numbers of sequence ``name``."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        first: int = (await session.execute(text("SELECT nextval(:name)"),
                                            {"name": name})).scalar_one()
        return first
    stmt = add_to_counter("sqlite", SequenceBlock, {"name": name}, "last_value", BLOCK_SIZE)
    last: int = (await session.execute(stmt.returning(SequenceBlock.last_value))).scalar_one()
    return last - BLOCK_SIZE + 1


class BlockRuns:
    """Runs of consecutive numbers of one sequence, cut from blocks this process holds.

    PostgreSQL: a block from ``nextval`` belongs to this process alone and is never taken
    back, so it can serve many transactions, rolled back or not. SQLite: the block is a
    counter row in the caller's transaction, which a rollback takes back; a run cannot
    outlive its transaction, so every call reserves a block of its own.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._next = self._end = 0
        self._lock = threading.Lock()

    async def take(self, session: AsyncSession, count: int) -> int:
        """The first of ``count`` consecutive numbers no one else gets."""
        _check_run(count)
        connection = await session.connection()
        if connection.dialect.name != "postgresql":
            return await reserve_block(session, self.name)
        return await self._cut(count, lambda: reserve_block(session, self.name))

    async def take_on(self, driver_connection: Any, count: int) -> int:
        """As :meth:`take`, on PostgreSQL, over an asyncpg connection (kit.db.Database.
        autocommit): a block's ``nextval`` needs no transaction."""
        _check_run(count)

        async def fresh_block() -> int:
            first: int = await driver_connection.fetchval("SELECT nextval($1)", self.name)
            return first

        return await self._cut(count, fresh_block)

    async def _cut(self, count: int, fresh_block: Callable[[], Awaitable[int]]) -> int:
        with self._lock:  # event loops in other threads of the process share the blocks
            if self._end - self._next >= count:
                first = self._next
                self._next += count
                return first
        first = await fresh_block()
        with self._lock:  # the caller's run comes first; a block another caller took is lost
            self._next, self._end = first + count, first + BLOCK_SIZE
        return first

    def forget(self) -> None:
        """Drop the block held (after a failed write: the database may have been restored,
        and its sequence handed the block out again)."""
        with self._lock:
            self._next = self._end = 0


def _check_run(count: int) -> None:
    if not 0 < count <= BLOCK_SIZE:
        raise ValueError(f"a run is 1 to {BLOCK_SIZE} numbers")
