"""The combined write's COPY path on PostgreSQL loses a race for a message id cleanly."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.tracking.ingest import Ingestor, Outcome, write_rows
from cxprism.tracking.messages import Envelope, to_row
from cxprism.tracking.models import TrackedEvent
from cxprism.workspaces.auth import SourceCredential
from tests.fixtures.builders import Tenant
from tests.tracking.helpers import make_source, track


def rows_for(*numbers: int) -> list[dict[str, object]]:
    return [to_row(track(n), Envelope(utcnow())) for n in numbers]


async def test_a_commit_that_loses_a_message_id_race_is_written_again_skipping_it(
        db: Database, tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SQLite has one writer: no concurrent commit can take an id first")
    source = await make_source(db, tenant)
    credential = SourceCredential(tenant.workspace_id, source.id)
    ingestor = Ingestor(db)
    caplog.set_level(logging.INFO, "cxprism.tracking")
    async with db.session() as blocker:
        await write_rows(blocker, credential, rows_for(1))  # msg-1, not committed yet
        pending = asyncio.create_task(ingestor.submit(credential, rows_for(1, 2), 0))
        await asyncio.sleep(0.5)
        assert not pending.done()  # its COPY waits on the uncommitted msg-1
        await blocker.commit()
    assert await asyncio.wait_for(pending, 10) == Outcome(stored=1, deduplicated=1,
                                                          suppressed=0)
    async with db.session() as session:
        stored = list(await session.scalars(select(TrackedEvent.message_id).where(
            TrackedEvent.workspace_id == tenant.workspace_id)))
    assert sorted(stored) == ["msg-1", "msg-2"]
    assert any("concurrent commit stored" in r.getMessage() for r in caplog.records)
    await ingestor.close()
