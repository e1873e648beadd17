"""PostgreSQL bulk inserts that can skip conflicts: ``INSERT ... SELECT FROM unnest(...)``.

One statement and one round trip for any number of rows. COPY is faster still, but cannot
skip conflicting rows.

Each column normally goes as one *delimited text* parameter, split again on the server with
``string_to_array``. The obvious way, one array parameter per column, costs this process
about 6 µs a row: asyncpg checks every array element against ``collections.abc`` before it
encodes it. A string joined in Python costs about a fifth of that, and PostgreSQL splits it
for about what it spends decoding an array. The text form needs values that cannot be
mistaken for its separators. Every batch is checked by counting separators, and a batch
that fails the check goes as arrays instead:

- a text value holding the separator or the NULL marker (both ASCII control characters);
- a single row whose only value is the empty string (``string_to_array('')`` is empty);
- a column type the text form does not cover.

Timestamps go as integer microseconds since the Unix epoch and are rebuilt exactly on the
server from whole seconds plus a remainder: ``to_timestamp`` of a fraction would round far
from the epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import Column, Table
from sqlalchemy.dialects import postgresql

SEPARATOR = "\x1e"  # ASCII record separator
NULL_MARK = "\x1f"  # ASCII unit separator: a NULL element
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


class NotDelimitable(ValueError):
    """This batch cannot go in the delimited text form; send arrays."""


def is_json(column: Column[Any]) -> bool:
    return _sql_type(column) in ("JSON", "JSONB")


def json_text(value: Any) -> str | None:
    """A JSON column's value as text: a caller's pre-serialised bytes, or serialised here."""
    text = getattr(value, "text", None)  # kit.db.JSONText
    if isinstance(text, bytes):
        return text.decode()
    return None if value is None else orjson.dumps(value).decode()


# --- the delimited text form -------------------------------------------------------------


def _joined(texts: list[str], values: list[Any]) -> str:
    """The texts joined, refused unless the server will split them back into ``values``."""
    text = SEPARATOR.join(texts)
    if (text.count(SEPARATOR) != len(values) - 1 or text.count(NULL_MARK) != values.count(None)
            or text == ""):
        raise NotDelimitable
    return text


def _plain(values: list[Any]) -> str:
    return _joined(values if None not in values
                   else [NULL_MARK if v is None else v for v in values], values)


def _numbers(values: list[Any]) -> str:
    if not all(v is None or type(v) is int for v in values):
        raise NotDelimitable  # True or 3.9 would pass as 1 or 3: the arrays' codec refuses
    return _joined([NULL_MARK if v is None else str(v) for v in values], values)


def _repeating(values: list[Any], convert: Callable[[Any], str]) -> list[str]:
    """Converted values, each converted once while it repeats (a batch's workspace, source,
    arrival time): comparing identity is far cheaper than hashing a UUID or a datetime."""
    out, last, text = [], _UNSET, ""
    for value in values:
        if value is not last:
            last, text = value, NULL_MARK if value is None else convert(value)
        out.append(text)
    return out


_UNSET = object()


def _uuids(values: list[Any]) -> str:
    return _joined(_repeating(values, str), values)


def _micros(values: list[Any]) -> str:
    try:
        return _joined(_repeating(values, _micro_text), values)
    except TypeError:  # a naive datetime: the arrays' codec knows what to do with it
        raise NotDelimitable from None


def _micro_text(value: datetime) -> str:
    return str((value - _EPOCH) // _MICROSECOND)


def _json(values: list[Any]) -> str:
    """Texts a caller serialised (kit.db.JSONText) are joined as bytes and decoded once, with
    no separator check: JSON text cannot hold a raw control character (the grammar allows
    only space, tab, CR and LF outside strings, and strings must escape them)."""
    texts = [getattr(v, "text", None) for v in values]
    if all(type(t) is bytes for t in texts):
        return _SEPARATOR_BYTES.join(texts).decode()  # type: ignore[arg-type]
    return _joined([NULL_MARK if (t := json_text(v)) is None else t for v in values], values)


_SEPARATOR_BYTES = SEPARATOR.encode()
_Encoder = Callable[[list[Any]], str]


def _text_form(sql_type: str) -> tuple[_Encoder, str, str] | None:
    """(encoder, the split array's type, the selected expression with {c} for the column)."""
    if sql_type.startswith(("VARCHAR", "TEXT")):
        return _plain, "text", "{c}"
    if sql_type in ("BIGINT", "INTEGER", "SMALLINT"):
        return _numbers, sql_type.lower(), "{c}"
    if sql_type == "UUID":
        return _uuids, "uuid", "{c}"
    if sql_type == "TIMESTAMP WITH TIME ZONE":
        return _micros, "int8", ("(to_timestamp({c} / 1000000)"
                                 " + ({c} % 1000000) * INTERVAL '1 microsecond')")
    if sql_type in ("JSON", "JSONB"):
        return _json, "text", "{c}::" + sql_type
    return None


def column_values(rows: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    try:
        return list(map(itemgetter(name), rows))
    except KeyError:  # a row without the column: NULL there
        return [row.get(name) for row in rows]


def delimited(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One text parameter per column of ``table``; NotDelimitable if the batch cannot."""
    return [encode(column_values(rows, name)) for name, encode in _encoders(table)]


_ENCODERS: dict[str, list[tuple[str, _Encoder]]] = {}


def _encoders(table: Table) -> list[tuple[str, _Encoder]]:
    """Each column's name and text encoder, found once per table: looked up per call, they
    cost a small commit (one event) about as much as encoding its values."""
    if table.name not in _ENCODERS:
        forms = [(column.name, _text_form(_sql_type(column))) for column in table.columns]
        if any(form is None for _, form in forms):
            raise NotDelimitable
        _ENCODERS[table.name] = [(name, form[0]) for name, form in forms if form is not None]
    return _ENCODERS[table.name]


def delimited_sql(table: Table, conflict: Sequence[str], returning: str | tuple[str, ...],
                  where: str = "") -> str:
    """The statement for :func:`delimited`'s parameters ($1 ... $n, one per column), which
    inserts only the rows ``where`` (SQL over the selected columns) holds for."""
    return _cached(("delimited", table.name, tuple(conflict), returning, where),
                   lambda: _delimited_sql(table, conflict, returning, where))


def _delimited_sql(table: Table, conflict: Sequence[str], returning: str | tuple[str, ...],
                   where: str) -> str:
    names, splits, selected = [], [], []
    for number, column in enumerate(table.columns, start=1):
        form = _text_form(_sql_type(column))
        if form is None:
            raise NotDelimitable
        _, array_type, expression = form
        name = f'"{column.name}"'
        names.append(name)
        splits.append(f"string_to_array(${number}, E'\\x1e', E'\\x1f')::{array_type}[]")
        selected.append(expression.format(c=name))
    return _statement(table, names=names, sources=splits, selected=selected,
                      conflict=conflict, returning=returning, where=where)


# --- the array form ----------------------------------------------------------------------


def arrays(table: Table, rows: Sequence[Mapping[str, Any]]) -> list[list[Any]]:
    """One array parameter per column of ``table``."""
    json_columns = {c.name for c in table.columns if _sql_type(c) in ("JSON", "JSONB")}
    return [[json_text(row.get(name)) for row in rows] if name in json_columns
            else [row.get(name) for row in rows] for name in (c.name for c in table.columns)]


def arrays_sql(table: Table, conflict: Sequence[str], returning: str | tuple[str, ...],
               where: str = "") -> str:
    """As :func:`delimited_sql`, for :func:`arrays`' parameters."""
    return _cached(("arrays", table.name, tuple(conflict), returning, where),
                   lambda: _arrays_sql(table, conflict, returning, where))


def _arrays_sql(table: Table, conflict: Sequence[str], returning: str | tuple[str, ...],
                where: str) -> str:
    names, params, selected = [], [], []
    for number, column in enumerate(table.columns, start=1):
        sql_type = _sql_type(column)
        is_json = sql_type in ("JSON", "JSONB")
        name = f'"{column.name}"'
        names.append(name)
        params.append(f"${number}::{'text' if is_json else sql_type}[]")
        selected.append(f"{name}::{sql_type}" if is_json else name)
    return _statement(table, names=names, sources=params, selected=selected,
                      conflict=conflict, returning=returning, where=where)


# --- shared ------------------------------------------------------------------------------


_Key = tuple[str, str, tuple[str, ...], str | tuple[str, ...], str]
_SQL: dict[_Key, str] = {}


def _cached(key: _Key, build: Callable[[], str]) -> str:
    if key not in _SQL:
        _SQL[key] = build()
    return _SQL[key]


_DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
_TYPES: dict[tuple[str, str], str] = {}


def _sql_type(column: Column[Any]) -> str:
    """The column's PostgreSQL type name, compiled once: a compile per call made a dialect
    each time, cyclic garbage whose collection stalled the server for tens of ms."""
    key = (column.table.name, column.name)
    if key not in _TYPES:
        # The type without its collation: ``$1::VARCHAR(255) COLLATE "C"[]`` is no syntax,
        # and the column applies its own collation to what is stored.
        compiled = str(column.type.compile(dialect=_DIALECT))
        _TYPES[key] = compiled.split(" COLLATE ", 1)[0]
    return _TYPES[key]


def _statement(table: Table, *, names: list[str], sources: list[str], selected: list[str],
               conflict: Sequence[str], returning: str | tuple[str, ...], where: str) -> str:
    # Only names from our own table metadata (and the caller's own SQL for ``where``) go
    # into the text; values are parameters.
    columns = ", ".join(names)
    returned = (returning,) if isinstance(returning, str) else returning
    return " ".join([
        "INSERT INTO", f'"{table.name}"', f"({columns})",
        "SELECT", ", ".join(selected), "FROM", f"unnest({', '.join(sources)})",
        f"AS u({columns})", *(["WHERE", where] if where else []),
        "ON CONFLICT", f"({', '.join(conflict)})",
        "DO NOTHING RETURNING", ", ".join(f'"{name}"' for name in returned)])
