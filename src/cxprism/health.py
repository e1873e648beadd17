"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text

from cxprism.kit.db import Database
from cxprism.kit.errors import error_response

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    database: Database = request.app.state.db
    try:
        async with database.session() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        return error_response(503, "not_ready", "The database is not reachable.")
    return JSONResponse({"status": "ready", "database": database.dialect})
