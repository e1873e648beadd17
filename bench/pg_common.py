"""Database helpers the benchmarks share: driver DSNs, a fresh bench database, and
values as SQLAlchemy stores them on SQLite."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url


def plain_dsn(url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy ``postgresql+asyncpg://`` URL."""
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def fresh_database(server_url: str, name: str) -> str:
    """Drop and create database ``name`` on that server; its SQLAlchemy URL."""
    conn = await asyncpg.connect(plain_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def sqlite_value(value: Any) -> Any:
    """A value as SQLAlchemy stores it on SQLite, for raw sqlite3 baselines."""
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value
