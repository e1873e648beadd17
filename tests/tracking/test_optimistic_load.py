"""Commits load their rows as if every message id were new (COPY on PostgreSQL). A stored
id fails that load; the commit is then written skipping stored ids, and so are the next
few, and every request still gets its true outcome."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from cxprism.kit.db import Database
from cxprism.tracking.ingest import (
    CAREFUL_COMMITS_AFTER_CONFLICT,
    Ingestor,
    Outcome,
    _Submission,
    write,
)
from cxprism.tracking.messages import Envelope, to_row
from cxprism.tracking.models import TrackedEvent
from cxprism.workspaces.auth import SourceCredential
from tests.fixtures.builders import Tenant
from tests.tracking.helpers import Source, make_source, stored_count, track


def _rows(*numbers: int, **extra: object) -> list[dict[str, object]]:
    envelope = Envelope(datetime.now(UTC))
    return [to_row(track(n, **extra), envelope) for n in numbers]


async def test_a_stored_id_sends_the_commit_and_the_next_few_down_the_careful_path(
        db: Database, tenant: Tenant) -> None:
    source = await make_source(db, tenant)
    credential = SourceCredential(tenant.workspace_id, source.id)
    ingestor = Ingestor(db, express_rows=0)  # the session path's COPY, not tracking.express
    try:
        assert await ingestor.submit(credential, _rows(1, 2), 0) == Outcome(2, 0, 0)
        assert ingestor._careful_commits == 0  # the optimistic load went through
        assert await ingestor.submit(credential, _rows(2, 3, 4), 0) == Outcome(2, 1, 0)
        assert ingestor._careful_commits == CAREFUL_COMMITS_AFTER_CONFLICT
        for n in range(CAREFUL_COMMITS_AFTER_CONFLICT):
            assert await ingestor.submit(credential, _rows(100 + n, 1), 0) == Outcome(1, 1, 0)
        assert ingestor._careful_commits == 0  # and back to loading optimistically
        assert await ingestor.submit(credential, _rows(5), 0) == Outcome(1, 0, 0)
    finally:
        await ingestor.close()
    assert await stored_count(db) == 5 + CAREFUL_COMMITS_AFTER_CONFLICT


async def test_one_id_twice_in_an_optimistic_commit_keeps_the_first_request_s_row(
        db: Database, tenant: Tenant) -> None:
    source: Source = await make_source(db, tenant)
    credential = SourceCredential(tenant.workspace_id, source.id)
    first = _Submission(credential, _rows(7, properties={"from": "first"}), 0)
    second = _Submission(credential, _rows(7, 8, properties={"from": "second"}), 0)
    async with db.session() as session:
        outcomes = await write(session, [first, second], optimistic=True)
        await session.commit()
    assert outcomes == [Outcome(1, 0, 0), Outcome(1, 1, 0)]
    async with db.session() as session:
        stored = (await session.execute(select(TrackedEvent).where(
            TrackedEvent.message_id == "msg-7"))).scalar_one()
    assert stored.payload["properties"] == {"from": "first"}
