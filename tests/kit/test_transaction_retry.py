"""A request aborted by a deadlock runs again in a fresh transaction; nothing doubles."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import Database
from cxprism.kit.errors import install_error_handlers
from cxprism.kit.http import TRANSACTION_ATTEMPTS, TransactionalRoute, db_session
from cxprism.workspaces.models import Workspace


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"driver error {sqlstate}")
        self.sqlstate = sqlstate


def _app(db: Database, failures: list[str]) -> FastAPI:
    """POST /w adds a workspace, then fails with the next queued SQLSTATE, if any."""
    router = APIRouter(route_class=TransactionalRoute)
    calls = {"n": 0}

    @router.post("/w")
    async def add(session: AsyncSession = Depends(db_session)) -> dict[str, int]:
        calls["n"] += 1
        session.add(Workspace(slug=f"w{calls['n']}", name="W", timezone="UTC"))
        await session.flush()
        if failures:
            raise DBAPIError("UPDATE ...", None, _DriverError(failures.pop(0)))
        return {"attempts": calls["n"]}

    app = FastAPI()
    app.state.db = db
    install_error_handlers(app)
    app.include_router(router)
    return app


async def _workspaces(db: Database) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(Workspace)))
                   .scalar_one())


async def _post(app: FastAPI) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://t") as client:
        return await client.post("/w")


async def test_a_deadlock_victim_is_run_again_and_its_first_attempt_leaves_nothing(
        db: Database) -> None:
    response = await _post(_app(db, ["40P01", "40001"]))
    assert response.status_code == 200
    assert response.json() == {"attempts": 3}
    assert await _workspaces(db) == 1


async def test_other_database_errors_are_not_retried(db: Database) -> None:
    response = await _post(_app(db, ["23502"]))
    assert response.status_code == 500
    assert await _workspaces(db) == 0


async def test_retries_stop_after_the_last_attempt(db: Database) -> None:
    response = await _post(_app(db, ["40P01"] * TRANSACTION_ATTEMPTS))
    assert response.status_code == 500
    assert await _workspaces(db) == 0
