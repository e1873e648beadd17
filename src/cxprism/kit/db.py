"""Engine, sessions and the dialect helpers domain code uses instead of ``if dialect ==``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Insert, Select, Table, any_, bindparam, event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import NullPool

from cxprism.kit import pg_codecs, pg_unnest, sqlite_wal
from cxprism.kit.pg_autocommit import AutocommitConnections

_UNPARSED: Any = object()  # JSONText made from text alone

SelectT = TypeVar("SelectT", bound=Select[Any])


class Database:
    """One engine and one session factory per process."""

    def __init__(self, url: str, *, pool_size: int = 10, echo: bool = False,
                 pre_ping: bool = True, keep_sqlite_connection: bool = False,
                 fast_timestamps: bool = False) -> None:
        self.url = url
        self.pool_size = pool_size
        self.fast_timestamps = fast_timestamps
        self._autocommit: AutocommitConnections | None = None
        self.engine = make_engine(url, pool_size=pool_size, echo=echo, pre_ping=pre_ping,
                                  keep_sqlite_connection=keep_sqlite_connection)
        if fast_timestamps and self.dialect == "postgresql":
            pg_codecs.use_fast_timestamps(self.engine)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)
        self.checkpointer: sqlite_wal.WalCheckpointer | None = None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> AsyncSession:
        if self.checkpointer is not None:
            self.checkpointer.ensure_running()
        return self.sessionmaker()

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[Any]:
        """PostgreSQL only: an asyncpg connection outside any transaction, so that each
        statement commits on its own, in its one round trip.

        For a hot writer whose whole commit fits one statement: a session's BEGIN, its
        statements and its COMMIT are a round trip each, and each round trip costs this
        process a system call and a turn on the event loop (see tracking.express). The
        connections are kept apart from the engine's pool (kit.pg_autocommit), up to this
        database's pool size of them.
        """
        if self.dialect != "postgresql":
            raise RuntimeError("autocommit connections are PostgreSQL's (asyncpg's)")
        if self._autocommit is None:
            _, connect_kwargs = self.engine.dialect.create_connect_args(self.engine.url)
            self._autocommit = AutocommitConnections(
                connect_kwargs, max_idle=self.pool_size,
                setup=pg_codecs.install if self.fast_timestamps else None)
        async with self._autocommit.connection() as connection:
            yield connection

    async def dispose(self) -> None:
        if self.checkpointer is not None:
            await self.checkpointer.stop()
        if self._autocommit is not None:
            await self._autocommit.close()
        await self.engine.dispose()

    def dedicated(self, pool_size: int) -> Database:
        """A pool of its own for one hot writer, whose checkouts skip the liveness ping.

        The ping is a round trip on every checkout, about a millisecond of this process's
        time per commit; a writer that retries a failed write (its connection is then
        dropped, and a dropped connection makes the pool reconnect) does not need it. Its own
        pool also keeps the writer from starving the API of connections. On SQLite the
        writer keeps one connection open (everything else opens one per session): opening
        one, with its thread and pragmas, cost more than a small commit itself, and its
        write-ahead log is checkpointed in the background, not inside its commits
        (kit.sqlite_wal). On PostgreSQL its connections encode timestamps faster
        (kit.pg_codecs).
        """
        if self.dialect != "postgresql":
            writer = Database(self.url, keep_sqlite_connection=True)
            path = sqlite_wal.checkpointable_path(make_url(self.url).database)
            if path is not None:
                event.listen(writer.engine.sync_engine, "connect", sqlite_wal.no_autocheckpoint)
                writer.checkpointer = sqlite_wal.WalCheckpointer(path)
            return writer
        return Database(self.url, pool_size=pool_size, pre_ping=False, fast_timestamps=True)


def make_engine(url: str, *, pool_size: int = 10, echo: bool = False,
                pre_ping: bool = True, keep_sqlite_connection: bool = False) -> AsyncEngine:
    if url.startswith("sqlite"):
        # One writer at a time: SQLite's own lock; WAL lets readers go on meanwhile.
        pooling: dict[str, Any] = ({"pool_size": 1, "max_overflow": 0}
                                   if keep_sqlite_connection else {"poolclass": NullPool})
        engine = create_async_engine(
            url, echo=echo, connect_args={"timeout": 30}, json_serializer=_sqlite_json,
            **pooling
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin_immediate)
        return engine
    return create_async_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=pre_ping
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


def one_of(dialect: str, column: Any, values: Sequence[Any]) -> ColumnElement[bool]:
    """``column IN values`` for long lists. PostgreSQL gets ``column = ANY(:array)``: one
    parameter, where ``IN (:v1, ..., :vn)`` costs planning time that grows much faster
    than n (measured: 233 ms to plan 1,000 pairs, 899 ms for 2,000)."""
    if dialect == "postgresql":
        array = bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == any_(array)  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


def for_update(dialect: str, stmt: SelectT) -> SelectT:
    """Lock the selected rows until the transaction ends, and read them fresh."""
    if dialect == "postgresql":
        return stmt.with_for_update().execution_options(**_FRESH)
    return stmt.execution_options(**_FRESH)


class JSONText:
    """A JSON value serialised once by the caller (or received as text), stored as this
    text on both databases; its value is the one given, or parsed when first asked for.

    A plain class with slots: a dataclass ``__init__`` costs more, once a row."""

    __slots__ = ("_value", "text")

    def __init__(self, text: bytes, value: Any = _UNPARSED) -> None:
        self.text = text
        self._value = value

    @property
    def value(self) -> Any:
        if self._value is _UNPARSED:
            # The standard library reads all JSON text PostgreSQL accepts (numbers beyond
            # a double's range included), and round-trips what it writes.
            self._value = json.loads(self.text)
        return self._value

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, JSONText) and self.text == other.text
                and self.value == other.value)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"JSONText({self.text!r})"


async def insert_many_ignore(session: AsyncSession, table: Table,
                             rows: Sequence[Mapping[str, Any]], conflict_columns: Sequence[str],
                             returning: str) -> list[Any]:
    """Insert ``rows`` (every column of ``table``), skipping conflicts; the inserted keys.

    PostgreSQL gets one ``INSERT ... SELECT FROM unnest(...)`` (see kit.pg_unnest): one
    statement and one round trip for any number of rows, close to COPY's speed, which
    cannot skip conflicts. JSON columns take :class:`JSONText` values, so they are
    serialised only once.
    """
    if not rows:
        return []
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        return await _insert_many_sqlite(session, table, rows, conflict_columns, returning)
    raw = await connection.get_raw_connection()
    if not raw.driver_connection.is_in_transaction():  # type: ignore[union-attr]
        await connection.exec_driver_sql("SELECT 1")  # SQLAlchemy opens it lazily
    params: Sequence[Any]
    try:
        params = pg_unnest.delimited(table, rows)
        sql = pg_unnest.delimited_sql(table, conflict_columns, returning)
    except pg_unnest.NotDelimitable:
        params = pg_unnest.arrays(table, rows)
        sql = pg_unnest.arrays_sql(table, conflict_columns, returning)
    records = await raw.driver_connection.fetch(sql, *params)  # type: ignore[union-attr]
    return [record[0] for record in records]


async def copy_rows(session: AsyncSession, table: Table, columns: Sequence[str],
                    records: Sequence[Sequence[Any]]) -> None:
    """Insert ``records`` (values of ``columns``, in order) in the session's transaction,
    failing on any conflict. PostgreSQL gets COPY, the fastest load there is; the columns
    must not be JSON (COPY takes the values as they are)."""
    if not records:
        return
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        await session.execute(table.insert(), [dict(zip(columns, r, strict=True))
                                               for r in records])
        return
    await _copy(connection, table, columns, records)


async def _copy(connection: AsyncConnection, table: Table, columns: Sequence[str],
                records: Sequence[Sequence[Any]]) -> None:
    """A binary COPY in the connection's transaction (opened first if need be)."""
    raw = await connection.get_raw_connection()
    if not raw.driver_connection.is_in_transaction():  # type: ignore[union-attr]
        await connection.exec_driver_sql("SELECT 1")  # SQLAlchemy opens it lazily
    await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
        table.name, records=records, columns=list(columns))


_UNIQUE_VIOLATION = "23505"  # the SQLSTATE
_SQLITE_KEY_TAKEN = {"SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY"}


class RowsConflict(Exception):
    """A load that does not skip conflicts met a key stored already. Its transaction is
    aborted: roll back, then write again with :func:`insert_many_ignore`."""


async def copy_new_rows(session: AsyncSession, table: Table,
                        rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (every column of ``table``; JSON as :class:`JSONText` or plain
    values), raising :class:`RowsConflict` if any key is taken.

    For rows that are nearly always new. PostgreSQL gets a binary COPY, which costs the
    database about 40% less per row than :func:`insert_many_ignore`'s statement: that one
    must split and cast every column, then check each key before its insert.
    """
    if not rows:
        return
    connection = await session.connection()
    if connection.dialect.name != "postgresql":
        try:
            await session.execute(table.insert(), list(rows))
        except IntegrityError as exc:
            if getattr(exc.orig, "sqlite_errorname", None) in _SQLITE_KEY_TAKEN:
                raise RowsConflict(str(exc.orig)) from exc
            raise  # NOT NULL, CHECK, a foreign key: not a stored key
        return
    try:
        await _copy(connection, table, *_copy_records(table, rows))
    except Exception as exc:
        if getattr(exc, "sqlstate", None) == _UNIQUE_VIOLATION:  # asyncpg's own error
            raise RowsConflict(str(exc)) from exc
        raise


def _copy_records(table: Table, rows: Sequence[Mapping[str, Any]]
                  ) -> tuple[list[str], list[tuple[Any, ...]]]:
    """The column names and one tuple of values per row (JSON as text), built column by
    column: picking a column out and zipping the columns runs in C, a loop over rows not."""
    names = [c.name for c in table.columns]
    columns = [_json_texts(pg_unnest.column_values(rows, c.name)) if pg_unnest.is_json(c)
               else pg_unnest.column_values(rows, c.name) for c in table.columns]
    return names, list(zip(*columns, strict=True))


def _json_texts(values: list[Any]) -> list[str | None]:
    return [v.text.decode() if type(v) is JSONText else pg_unnest.json_text(v) for v in values]


async def _insert_many_sqlite(session: AsyncSession, table: Table,
                              rows: Sequence[Mapping[str, Any]], conflict_columns: Sequence[str],
                              returning: str) -> list[Any]:
    # One compiled statement, executed for many parameter sets ("insertmanyvalues").
    stmt: Any = sqlite_insert(table).on_conflict_do_nothing(index_elements=list(conflict_columns))
    result = await session.execute(stmt.returning(table.c[returning]), list(rows))
    return list(result.scalars())


def _sqlite_json(value: Any) -> str:
    """SQLite's JSON columns: a :class:`JSONText` as its text, as it came; any other
    value serialised as SQLAlchemy would."""
    if type(value) is JSONText:
        return value.text.decode()
    return json.dumps(value)


def metadata_tables(base: type[DeclarativeBase]) -> list[str]:
    return [table.name for table in base.metadata.sorted_tables]


async def lock_names(session: AsyncSession, names: Iterable[str]) -> None:
    """:func:`lock_name` for many names in one statement, in sorted order: two
    transactions locking overlapping sets this way take them in the same order."""
    ordered = sorted(set(names))
    if ordered and session.get_bind().dialect.name == "postgresql":
        # unnest reads an array out in storage order: the locks are taken in this order.
        await session.execute(text(
            "SELECT count(pg_advisory_xact_lock(hashtextextended(n, 0))) "
            "FROM unnest(CAST(:names AS text[])) AS n"), {"names": ordered})


async def lock_name(session: AsyncSession, name: str) -> None:
    """Serialise transactions that create the same logical thing (held to the commit).

    PostgreSQL: a transaction-level advisory lock on a hash of ``name`` (a rare hash clash
    only makes two unrelated writers take turns). SQLite has one writer: nothing to do.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:name, 0))"),
                              {"name": name})
