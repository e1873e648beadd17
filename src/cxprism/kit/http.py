"""The request boundary: one request = one transaction, committed here and nowhere else.

Routers use ``TransactionalRoute`` (``APIRouter(route_class=TransactionalRoute)``) and get
the request's session with ``Depends(db_session)``. Services only ``flush()``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit import idempotency
from cxprism.kit.db import Database
from cxprism.kit.errors import Conflict

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class TransactionalRoute(APIRoute):
    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
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

        return handler


def db_session(request: Request) -> AsyncSession:
    session: AsyncSession = request.state.session
    return session
