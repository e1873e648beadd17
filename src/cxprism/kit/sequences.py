"""Blocks of numbers handed out without a lock that lasts until commit.

PostgreSQL: a sequence whose increment is the block size; ``nextval`` is never rolled
back and never waits for another transaction, so concurrent writers each get a block at
once. SQLite has a single writer: a counter row in the writer's own transaction does.
A block a rolled-back transaction took is simply never used (a gap).
"""

from __future__ import annotations

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
