"""Commits load their rows as if every message id were new (COPY on PostgreSQL). A stored
id fails that load; the commit is then written skipping stored ids, and so are the next
few, and every request still gets its true outcome."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
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


async def test_a_request_queued_as_the_last_commit_ends_still_gets_a_flusher(
        db: Database, tenant: Tenant) -> None:
    """A request handler resumed by a commit runs before the flusher's done callbacks; a
    flusher that left the running set only there made that request wait for good (the
    load generator saw every connection hang once no other request came)."""
    import asyncio

    source = await make_source(db, tenant)
    credential = SourceCredential(tenant.workspace_id, source.id)
    ingestor = Ingestor(db)
    later: list[asyncio.Future[Outcome]] = []
    try:
        first = ingestor.enqueue(credential, _rows(1), 0)
        # Queued from a callback of the first commit's own future, as a handler resumed by
        # it would: before anything the flusher's task schedules when it ends.
        first.add_done_callback(lambda _: later.append(ingestor.enqueue(
            credential, _rows(2), 0)))
        assert await asyncio.wait_for(first, 10) == Outcome(1, 0, 0)
        await asyncio.sleep(0)
        assert await asyncio.wait_for(later[0], 10) == Outcome(1, 0, 0)
    finally:
        await ingestor.close()


async def test_a_request_of_rejections_only_is_counted_without_a_failed_write(
        db: Database, tenant: Tenant, caplog: pytest.LogCaptureFixture) -> None:
    """It has no rows to insert: on SQLite (no express write) it once took the failure
    path, logging a failed combined write and turning careful for twenty commits."""
    source = await make_source(db, tenant)
    ingestor = Ingestor(db)
    try:
        assert await ingestor.submit(SourceCredential(tenant.workspace_id, source.id),
                                     [], 2) == Outcome(0, 0, 0)
    finally:
        await ingestor.close()
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]
    assert ingestor._careful_commits == 0


async def test_a_slow_commit_is_logged_with_its_size_and_a_quick_one_is_not(
        db: Database, tenant: Tenant, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from cxprism.tracking import ingest

    source = await make_source(db, tenant)
    credential = SourceCredential(tenant.workspace_id, source.id)
    ingestor = Ingestor(db)
    try:
        with caplog.at_level("WARNING", logger="cxprism.tracking"):
            await ingestor.submit(credential, _rows(1), 0)
            assert "took" not in caplog.text  # well under the threshold
            monkeypatch.setattr(ingest, "SLOW_COMMIT_SECONDS", 0.0)
            await ingestor.submit(credential, _rows(2, 3), 0)
    finally:
        await ingestor.close()
    assert "ms (1 requests, 2 events)" in caplog.text and "a tracking commit took" in caplog.text
