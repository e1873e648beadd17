"""The request boundary: one request = one transaction, committed here and nowhere else.

Routers use ``TransactionalRoute`` (``APIRouter(route_class=TransactionalRoute)``) and get
the request's session with ``Depends(db_session)``. Services only ``flush()``.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit import idempotency
from cxprism.kit.db import Database
from cxprism.kit.errors import Conflict

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            for attempt in range(TRANSACTION_ATTEMPTS):
                try:
                    return await _in_one_transaction(request, inner)
                except DBAPIError as exc:
                    if not is_transient(exc) or attempt == TRANSACTION_ATTEMPTS - 1:
                        raise
                    await _pause(attempt)
            raise AssertionError("unreachable")  # pragma: no cover

        return handler


# PostgreSQL aborts one of two transactions that wait on each other's locks (deadlock),
# or a transaction whose snapshot can no longer be serialised; the whole request is then
# run again in a new transaction, as PostgreSQL's documentation advises. Nothing of the
# aborted attempt was kept.
TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
TRANSACTION_ATTEMPTS = 5
RETRY_PAUSE_SECONDS = 0.01


def is_transient(exc: DBAPIError) -> bool:
    return getattr(exc.orig, "sqlstate", None) in TRANSIENT_SQLSTATES


async def _pause(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * 2 ** attempt))  # noqa: S311


async def _in_one_transaction(request: Request, inner: Handler) -> Response:
    database: Database = request.app.state.db
    async with database.session() as session:
        request.state.session = session
        try:
            response = await inner(request)
            if response.status_code >= 400:
                await session.rollback()
                return response
            await idempotency.remember(session, request, response)
            await session.commit()
        except idempotency.IdempotentReplay as replay:
            return replay.response
        except IntegrityError as exc:
            # A unique constraint the service's own checks could not see yet: a
            # concurrent request won the race. Nothing of this request is kept.
            raise Conflict(
                "A concurrent request changed the same data; retry the request.",
                code="concurrent_change",
            ) from exc
        return response


def db_session(request: Request) -> AsyncSession:
    session: AsyncSession = request.state.session
    return session
