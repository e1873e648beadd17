"""Background checkpoints of a SQLite database's write-ahead log, off the writer's commits.

By default SQLite checkpoints inside the commit that takes the log past 1,000 pages: that
commit, and every request waiting on it, then waits for the copy into the database file
and its fsync, hundreds of milliseconds at the 99th percentile of ``/v1/track``. A hot
writer turns that off on its connection (``wal_autocheckpoint=0``) and runs this beside
it: PASSIVE checkpoints, from a connection of its own (in aiosqlite's thread, so off the
event loop), copy every page no reader still needs and never block a writer. If the
checkpointer fails, it logs why and starts again with the writer's next session; the log
is also checkpointed whenever another connection commits, and when the last one closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from typing import Any

import aiosqlite

log = logging.getLogger("cxprism.db")

INTERVAL_SECONDS = 0.5


def no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    """A connect hook for the writer whose log this module checkpoints."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


def checkpointable_path(database: str | None) -> str | None:
    """The file a URL's database lives in, if it is a plain file (not memory, not a URI)."""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the background WAL checkpointer stopped; it starts again with the "
                  "writer's next session", exc_info=task.exception())


class WalCheckpointer:
    def __init__(self, path: str, interval: float = INTERVAL_SECONDS) -> None:
        self.path = path
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    def ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name="sqlite-wal-checkpointer")
            self._task.add_done_callback(_log_failure)

    async def stop(self) -> None:
        """Never raises: a checkpointer that died must not keep its owner from closing."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):  # logged when it died
            await task

    async def _run(self) -> None:
        async with aiosqlite.connect(self.path, timeout=30) as connection:
            while True:
                await asyncio.sleep(self.interval)
                try:  # read to the end: a statement left open would hold a read snapshot
                    async with connection.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
                        await cursor.fetchall()
                except sqlite3.Error:  # the next one copies what this one could not
                    log.warning("a background WAL checkpoint failed", exc_info=True)
