"""asyncpg connections kept outside SQLAlchemy's pool, for statements that commit alone.

A hot writer whose whole commit is one statement (tracking.express) takes a connection
for every commit. Through SQLAlchemy's pool that checkout and return cost three greenlet
switches and the pool's bookkeeping: about a third of a one-event commit's time on the
event loop. Here a connection is taken from a plain list and given back to it.

The rules are the pool's: a connection returned inside a transaction is closed (its next
user must not inherit it); one that failed otherwise than by the server's verdict on the
statement (a lost socket, a terminated backend, a cancelled call) is closed, and unless
the call was only cancelled, so are the idle ones, which are likely dead too (a restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

# SQLSTATE classes that leave a connection unusable: connection exception, and operator
# intervention (the server shutting down or terminating the backend).
_CONNECTION_LOST_CLASSES = ("08", "57")
# SQLAlchemy's own options among its connect arguments, not asyncpg's.
_SQLALCHEMY_OPTIONS = ("async_creator_fn", "prepared_statement_cache_size",
                       "prepared_statement_name_func")

Setup = Callable[[Any], Awaitable[None]]  # given an asyncpg connection


def _connection_unusable(exc: BaseException) -> bool:
    """Anything but an error the server reported for the statement itself: asyncpg's own
    (a closed socket, a protocol out of step after a terminated backend), a cancellation,
    or the server's word that the connection is over."""
    sqlstate = getattr(exc, "sqlstate", None)
    return not isinstance(sqlstate, str) or sqlstate[:2] in _CONNECTION_LOST_CLASSES


class AutocommitConnections:
    """Up to ``max_idle`` idle connections, opened on demand with ``connect_kwargs``
    (as SQLAlchemy's dialect would open them) and prepared by ``setup``. There is no cap
    on connections in use: as many are open as callers hold at once (the ingestor's
    flushers, a handful), which is why it is for one hot writer, not for general use."""

    def __init__(self, connect_kwargs: Mapping[str, Any], *, max_idle: int,
                 setup: Setup | None = None) -> None:
        self._kwargs = {k: v for k, v in connect_kwargs.items() if k not in _SQLALCHEMY_OPTIONS}
        self._max_idle = max_idle
        self._setup = setup
        self._idle: list[Any] = []  # asyncpg connections

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        connection = await self._take()
        try:
            yield connection
        except BaseException as exc:
            if connection.is_closed() or _connection_unusable(exc):
                connection.terminate()
                if not isinstance(exc, asyncio.CancelledError):
                    self._drop_idle()
            else:
                self._give_back(connection)
            raise
        self._give_back(connection)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()

    async def _take(self) -> Any:
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
        import asyncpg  # the optional PostgreSQL driver: imported where it is needed

        connection = await asyncpg.connect(**self._kwargs)
        if self._setup is not None:
            await self._setup(connection)
        return connection

    def _give_back(self, connection: Any) -> None:
        if (connection.is_closed() or connection.is_in_transaction()
                or len(self._idle) >= self._max_idle):
            connection.terminate()  # a transaction left open ends with its backend
        else:
            self._idle.append(connection)

    def _drop_idle(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.terminate()
