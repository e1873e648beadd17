from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from cxprism import housekeeping
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.kit.idempotency import IdempotencyRecord
from cxprism.workspaces.models import WebSession
from tests.fixtures.builders import Tenant


async def test_sweep_removes_only_expired_rows(db: Database, tenant: Tenant) -> None:
    now = utcnow()
    async with db.session() as session:
        for key, age in (("old", timedelta(hours=25)), ("fresh", timedelta(hours=1))):
            session.add(IdempotencyRecord(
                workspace_id=tenant.workspace_id, key=key, request_hash="0" * 64,
                status_code=201, media_type="application/json", body=b"{}",
                created_at=now - age))
        for digest, expires in (("a" * 64, now - timedelta(minutes=1)),
                                ("b" * 64, now + timedelta(hours=1))):
            session.add(WebSession(digest=digest, workspace_id=tenant.workspace_id,
                                   user_id=tenant.admin_id, csrf_token="t",
                                   created_at=now, expires_at=expires))
        await session.commit()
    assert await housekeeping.sweep(db) == {"idempotency_keys": 1, "web_sessions": 1}
    async with db.session() as session:
        keys = (await session.execute(select(IdempotencyRecord.key))).scalars().all()
        sessions = await session.scalar(select(func.count()).select_from(WebSession))
    assert keys == ["fresh"]
    assert sessions == 1
