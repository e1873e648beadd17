"""Shared helpers for the customers tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import func, select

from cxprism.bus.models import OutboxEvent
from cxprism.kit.db import Database

BASE = "/api/v1/customers"


def email(value: str) -> dict[str, str]:
    return {"kind": "email", "value": value}


def ext(value: str) -> dict[str, str]:
    return {"kind": "external_id", "value": value}


async def create(client: httpx.AsyncClient, headers: dict[str, str], *identities: dict[str, Any],
                 expect: int = 201, **extra: Any) -> dict[str, Any]:
    response = await client.post(BASE, headers=headers,
                                 json={"identities": list(identities), **extra})
    assert response.status_code == expect, response.text
    body: dict[str, Any] = response.json()
    return body


async def events_of(db: Database, workspace_id: uuid.UUID,
                    type_: str | None = None) -> list[OutboxEvent]:
    async with db.session() as session:
        stmt = select(OutboxEvent).where(OutboxEvent.workspace_id == workspace_id)
        if type_ is not None:
            stmt = stmt.where(OutboxEvent.type == type_)
        return list((await session.execute(stmt.order_by(OutboxEvent.seq))).scalars())


async def count(db: Database, model: Any, workspace_id: uuid.UUID) -> int:
    async with db.session() as session:
        stmt = select(func.count()).select_from(model).where(model.workspace_id == workspace_id)
        return int((await session.execute(stmt)).scalar_one())
