"""A hot SQLite writer's log is checkpointed in the background, never inside its commits."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from cxprism.kit import sqlite_wal
from cxprism.kit.db import Database


@pytest.fixture
def sqlite_db(db: Database) -> Database:
    if db.dialect != "sqlite":
        pytest.skip("SQLite's write-ahead log")
    return db


async def test_the_writers_commits_never_checkpoint_and_the_checkpointer_does(
        sqlite_db: Database) -> None:
    name = make_url(sqlite_db.url).database
    assert name is not None
    path = Path(name)
    writer = sqlite_db.dedicated(1)
    try:
        async with writer.session() as session:
            assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0
            await session.execute(text("CREATE TABLE wal_test_rows (body TEXT)"))
            await session.commit()
        size_before = path.stat().st_size  # noqa: ASYNC240 - a stat, not I/O worth a thread
        async with writer.session() as session:  # about 2,000 pages of log
            await session.execute(text("INSERT INTO wal_test_rows VALUES (:b)"),
                                  [{"b": os.urandom(2000).hex()} for _ in range(2000)])
            await session.commit()
        deadline = time.monotonic() + 10
        while path.stat().st_size <= size_before + 4_000_000:  # noqa: ASYNC240  # copied into the file
            assert time.monotonic() < deadline, "the log was never checkpointed"
            await asyncio.sleep(0.1)
    finally:
        await writer.dispose()
    assert writer.checkpointer is not None and writer.checkpointer._task is None


@pytest.mark.parametrize(("database", "path"), [
    ("/var/lib/cxprism.db", "/var/lib/cxprism.db"), (":memory:", None), ("", None),
    (None, None), ("file:cxprism.db?mode=rwc", None)])
def test_only_a_plain_file_gets_a_checkpointer(database: str | None, path: str | None) -> None:
    assert sqlite_wal.checkpointable_path(database) == path


async def test_a_checkpointer_that_died_still_stops_quietly(tmp_path: Path) -> None:
    checkpointer = sqlite_wal.WalCheckpointer(str(tmp_path / "missing-dir" / "x.db"), 0.01)
    checkpointer.ensure_running()
    for _ in range(100):  # it cannot open its database: it dies, and says so in the log
        await asyncio.sleep(0.01)
        if checkpointer._task is not None and checkpointer._task.done():
            break
    assert checkpointer._task is not None and checkpointer._task.done()
    await checkpointer.stop()
    assert checkpointer._task is None
