"""Engine, sessions and the dialect helpers domain code uses instead of ``if dialect ==``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Insert, Select, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

SelectT = TypeVar("SelectT", bound=Select[Any])


class Database:
    """One engine and one session factory per process."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size=pool_size, echo=echo)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    async def dispose(self) -> None:
        await self.engine.dispose()


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One writer at a time: SQLite's own lock; WAL lets readers go on meanwhile.
        engine = create_async_engine(
            url, echo=echo, poolclass=NullPool, connect_args={"timeout": 30}
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
    # Let SQLAlchemy emit BEGIN itself (see _sqlite_begin_immediate).
    dbapi_connection.isolation_level = None


def _sqlite_begin_immediate(conn: Any) -> None:
    # Take the write lock at BEGIN: a deferred transaction that reads and then writes can
    # fail with "database is locked" instead of waiting its turn.
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def dialect_insert(dialect: str, table: Any) -> Insert:
    if dialect == "postgresql":
        return pg_insert(table)
    return sqlite_insert(table)


def insert_ignore(dialect: str, table: Any, rows: Sequence[Mapping[str, Any]] | Mapping[str, Any],
                  conflict_columns: Iterable[str]) -> Insert:
    """INSERT ... ON CONFLICT (cols) DO NOTHING on both dialects."""
    stmt: Any = dialect_insert(dialect, table).values(rows)
    return stmt.on_conflict_do_nothing(index_elements=list(conflict_columns))  # type: ignore[no-any-return]


def upsert(dialect: str, table: Any, row: Mapping[str, Any], conflict_columns: Iterable[str],
           update_columns: Iterable[str]) -> Insert:
    """INSERT ... ON CONFLICT (cols) DO UPDATE SET cols = excluded.cols on both dialects."""
    stmt: Any = dialect_insert(dialect, table).values(dict(row))
    updates = {name: getattr(stmt.excluded, name) for name in update_columns}
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=list(conflict_columns), set_=updates
    )


def add_to_counter(dialect: str, table: Any, key: Mapping[str, Any], column: str,
                   amount: int) -> Insert:
    """Create the counter row at ``amount`` or add ``amount`` to it, atomically.

    On PostgreSQL the row stays locked until the transaction ends, which serialises
    concurrent writers of the same counter in commit order.
    """
    stmt: Any = dialect_insert(dialect, table).values({**key, column: amount})
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=list(key), set_={column: getattr(table, column) + amount}
    )


# A locking read may wait for another transaction; when it returns, the rows must be what
# that transaction committed, not what this session loaded before (identity map).
_FRESH = {"populate_existing": True}


def skip_locked(dialect: str, stmt: SelectT) -> SelectT:
    """Row locks that other claimers skip; SQLite has a single writer and needs none."""
    if dialect == "postgresql":
        return stmt.with_for_update(skip_locked=True).execution_options(**_FRESH)
    return stmt.execution_options(**_FRESH)


def for_update(dialect: str, stmt: SelectT) -> SelectT:
    """Lock the selected rows until the transaction ends, and read them fresh."""
    if dialect == "postgresql":
        return stmt.with_for_update().execution_options(**_FRESH)
    return stmt.execution_options(**_FRESH)


def metadata_tables(base: type[DeclarativeBase]) -> list[str]:
    return [table.name for table in base.metadata.sorted_tables]
