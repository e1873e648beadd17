"""Small PostgreSQL commits go as one autocommitted statement (tracking.express).

It must store, skip and count exactly what the session path does, record the same event,
and hand over to the session path whatever it cannot take: a revoked source's requests
and the commits of a workspace that holds suppressed people.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from cxprism.bus import events
from cxprism.bus.models import OutboxEvent
from cxprism.kit.db import Database
from cxprism.kit.errors import Unauthorized
from cxprism.tracking import express
from cxprism.tracking.ingest import APPENDED, Ingestor, Outcome, _Submission
from cxprism.tracking.messages import Envelope, to_row
from cxprism.tracking.models import TrackedEvent
from cxprism.workspaces.auth import SourceCredential
from cxprism.workspaces.service import WorkspaceService
from tests.fixtures.builders import Tenant
from tests.kit.test_bulk_insert import _row, row_values, texts
from tests.kit.test_bulk_insert import _stored as _stored_rows
from tests.tracking.helpers import (
    Source,
    erase_with_suppression,
    make_source,
    stored_count,
    track,
)


@pytest.fixture(autouse=True)
def _postgres_only(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the express write is PostgreSQL's (SQLite has one writer, no round trips)")


@pytest.fixture
def express_writes(monkeypatch: pytest.MonkeyPatch) -> list[set[str] | None]:
    """What each express statement answered (stored ids, or None: handed over)."""
    answers: list[set[str] | None] = []
    real = express.append

    async def spy(*args: Any, **kwargs: Any) -> set[str] | None:
        answer = await real(*args, **kwargs)
        answers.append(answer)
        return answer

    monkeypatch.setattr(express, "append", spy)
    return answers


def _requests(tenant: Tenant, source: Source, *numbers: list[int],
              rejected: int = 0) -> list[_Submission]:
    envelope = Envelope(datetime.now(UTC))
    credential = SourceCredential(tenant.workspace_id, source.id)
    return [_Submission(credential, [to_row(track(n, properties={"request": k}), envelope)
                                     for n in request], rejected)
            for k, request in enumerate(numbers)]


async def _in_one_commit(ingestor: Ingestor, batch: list[_Submission]) -> list[Any]:
    """The requests queued together, so that one commit takes them all."""
    loop = asyncio.get_running_loop()
    for submission in batch:
        submission.future = loop.create_future()
        ingestor._queue.append(submission)
    await ingestor._flush_all()
    return [s.future.result() if s.future and not s.future.exception() else
            s.future.exception() if s.future else None for s in batch]


async def _appended(db: Database, workspace_id: uuid.UUID) -> list[dict[str, Any]]:
    async with db.session() as session:
        rows = await session.execute(
            select(OutboxEvent.payload, OutboxEvent.seq)
            .where(OutboxEvent.workspace_id == workspace_id, OutboxEvent.type == APPENDED)
            .order_by(OutboxEvent.seq))
        return [payload for payload, _seq in rows]


async def _stored(db: Database, workspace_id: uuid.UUID) -> dict[str, Any]:
    async with db.session() as session:
        rows = await session.execute(
            select(TrackedEvent.message_id, TrackedEvent.payload, TrackedEvent.seq)
            .where(TrackedEvent.workspace_id == workspace_id))
        return {message_id: payload["properties"] for message_id, payload, _ in rows}


def _comparable(payload: dict[str, Any], source: Source) -> dict[str, Any]:
    """An event's payload without what differs between two runs (seqs, times, the source)."""
    return {"stored": payload["stored"], "has_range": payload["first_seq"] is not None,
            "range": (payload["last_seq"] - payload["first_seq"]
                      if payload["first_seq"] is not None else None),
            "sources": payload["sources"][str(source.id)]}


async def test_it_stores_skips_and_records_exactly_what_the_session_path_does(
        db: Database, tenant: Tenant, other_tenant: Tenant,
        express_writes: list[set[str] | None]) -> None:
    express_source, session_source = (await make_source(db, tenant),
                                      await make_source(db, other_tenant))
    by_express, by_session = Ingestor(db), Ingestor(db, express_rows=0)
    try:
        for ingestor, owner, source in ((by_express, tenant, express_source),
                                        (by_session, other_tenant, session_source)):
            # The same id twice in one commit, and a request of rejections only.
            first = await _in_one_commit(ingestor, _requests(owner, source, [1, 2], [2, 3],
                                                             [], rejected=1))
            again = await _in_one_commit(ingestor, _requests(owner, source, [3, 4]))
            assert first == [Outcome(2, 0, 0), Outcome(1, 1, 0), Outcome(0, 0, 0)]
            assert again == [Outcome(1, 1, 0)]
    finally:
        await by_express.close()
        await by_session.close()
    assert express_writes == [{"msg-1", "msg-2", "msg-3"}, {"msg-4"}]  # express, not handed over
    assert await _stored(db, tenant.workspace_id) == await _stored(db, other_tenant.workspace_id)
    assert (await _stored(db, tenant.workspace_id))["msg-2"] == {"request": 0}
    express_events = await _appended(db, tenant.workspace_id)
    session_events = await _appended(db, other_tenant.workspace_id)
    assert [_comparable(e, express_source) for e in express_events] == [
        _comparable(e, session_source) for e in session_events]
    assert _comparable(express_events[0], express_source) == {
        "stored": 3, "has_range": True, "range": 3,
        "sources": {"received": 7, "rejected": 3, "deduplicated": 1, "suppressed": 0}}
    assert set(express_events[0]) == set(session_events[0])
    stored_seqs = await _seqs(db, tenant.workspace_id)
    for event in express_events:  # the range the event names holds the commit's rows
        in_range = [s for s in stored_seqs if event["first_seq"] <= s <= event["last_seq"]]
        assert len(in_range) == event["stored"]
    assert len(stored_seqs) == sum(e["stored"] for e in express_events)


async def _seqs(db: Database, workspace_id: uuid.UUID) -> list[int]:
    async with db.session() as session:
        return list((await session.execute(select(TrackedEvent.seq).where(
            TrackedEvent.workspace_id == workspace_id))).scalars())


async def test_a_replayed_commit_stores_nothing_and_names_no_range(
        db: Database, tenant: Tenant, express_writes: list[set[str] | None]) -> None:
    source = await make_source(db, tenant)
    ingestor = Ingestor(db)
    try:
        for _ in range(5):
            await _in_one_commit(ingestor, _requests(tenant, source, [1, 2, 3]))
    finally:
        await ingestor.close()
    assert await stored_count(db, tenant.workspace_id) == 3
    assert express_writes == [{"msg-1", "msg-2", "msg-3"}] + [set()] * 4
    replays = (await _appended(db, tenant.workspace_id))[1:]
    assert len(replays) == 4
    assert all(e["stored"] == 0 and e["first_seq"] is None and e["last_seq"] is None
               and e["sources"][str(source.id)]["deduplicated"] == 3 for e in replays)


async def test_a_revoked_source_is_refused_by_the_session_path_and_stores_nothing(
        db: Database, tenant: Tenant, other_tenant: Tenant,
        express_writes: list[set[str] | None]) -> None:
    revoked, plain = await make_source(db, tenant), await make_source(db, other_tenant)
    async with db.session() as session:
        await WorkspaceService(session, tenant.workspace_id).revoke_source(revoked.id)
        await session.commit()
    ingestor = Ingestor(db)
    try:
        outcomes = await _in_one_commit(ingestor, _requests(tenant, revoked, [1])
                                        + _requests(other_tenant, plain, [1]))
        assert isinstance(outcomes[0], Unauthorized)
        assert outcomes[1] == Outcome(1, 0, 0)  # the other workspace is not held back
        # The refused workspace goes the session path for a while: no statement to waste.
        assert set(ingestor._session_path_until) == {tenant.workspace_id}
        assert sorted(express_writes, key=str) == [None, {"msg-1"}]
        await _in_one_commit(ingestor, _requests(tenant, revoked, [2]))
        assert len(express_writes) == 2  # remembered: not asked again
    finally:
        await ingestor.close()
    assert await stored_count(db, tenant.workspace_id) == 0
    assert await _appended(db, tenant.workspace_id) == []


async def test_a_workspace_with_suppressed_people_keeps_them_out(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        express_writes: list[set[str] | None]) -> None:
    source = await make_source(db, tenant)
    await erase_with_suppression(client, db, tenant, source, {
        "userId": "gone", "messageId": "i-gone", "traits": {"email": "gone@example.com"}})
    before = await stored_count(db, tenant.workspace_id)
    events_before = len(await _appended(db, tenant.workspace_id))
    asked_before = len(express_writes)  # the identify went express, before the erasure
    envelope = Envelope(datetime.now(UTC))
    credential = SourceCredential(tenant.workspace_id, source.id)
    gone = {"type": "track", "event": "Back", "userId": "gone", "messageId": "back"}
    ingestor = Ingestor(db)
    try:
        [outcome] = await _in_one_commit(ingestor, [_Submission(
            credential, [to_row(gone, envelope), to_row(track(9), envelope)], 0)])
    finally:
        await ingestor.close()
    assert outcome == Outcome(stored=1, deduplicated=0, suppressed=1)
    assert await stored_count(db, tenant.workspace_id) == before + 1
    assert express_writes[asked_before:] == [None]  # asked, wrote nothing, handed over
    [event] = (await _appended(db, tenant.workspace_id))[events_before:]  # the session's
    assert event["sources"][str(source.id)]["suppressed"] == 1


async def test_a_commit_wakes_the_relay(db: Database, tenant: Tenant,
                                        express_writes: list[set[str] | None]) -> None:
    source = await make_source(db, tenant)
    woken: list[int] = []
    remove = events.on_events_committed(lambda: woken.append(1))
    ingestor = Ingestor(db)
    try:
        await _in_one_commit(ingestor, _requests(tenant, source, [1]))
    finally:
        remove()
        await ingestor.close()
    assert woken == [1]
    assert express_writes == [{"msg-1"}]


async def test_unstorable_data_fails_only_its_own_request(db: Database, tenant: Tenant) -> None:
    """A NUL character cannot be stored in PostgreSQL text: the combined statement fails,
    and each request is written again on its own."""
    source = await make_source(db, tenant)
    bad, good = _requests(tenant, source, [1], [2])
    bad.rows[0]["name"] = "nul\x00here"
    ingestor = Ingestor(db)
    try:
        outcomes = await _in_one_commit(ingestor, [bad, good])
    finally:
        await ingestor.close()
    assert isinstance(outcomes[0], Exception)
    assert outcomes[1] == Outcome(1, 0, 0)
    assert set(await _stored(db, tenant.workspace_id)) == {"msg-2"}


async def test_an_express_commit_leaves_no_cyclic_garbage(db: Database, tenant: Tenant) -> None:
    """Cyclic garbage is collected in pauses that stall every request in flight."""
    import gc

    source = await make_source(db, tenant)
    ingestor = Ingestor(db)
    try:
        await _in_one_commit(ingestor, _requests(tenant, source, list(range(20))))  # warm up
        gc.collect()
        gc.disable()
        try:
            for n in range(1, 21):
                await _in_one_commit(ingestor, _requests(
                    tenant, source, [n * 100 + k for k in range(20)]))
            garbage = gc.collect()
        finally:
            gc.enable()
    finally:
        await ingestor.close()
    assert garbage == 0, garbage


_SEQS = itertools.count(10**9, 100)  # each example's seqs of its own


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=st.lists(st.tuples(texts, row_values), min_size=1, max_size=6))
async def test_every_value_is_stored_exactly_in_either_wire_form(
        db: Database, tenant: Tenant, batch: list[tuple[str, dict[str, Any]]]) -> None:
    """Delimited text, or arrays when a value could pass for a separator (kit.pg_unnest)."""
    tag = uuid.uuid4().hex  # examples share the workspace: ids and names of their own
    source = await make_source(db, tenant, f"website-{tag}")
    base = next(_SEQS)
    rows = sorted((_row(tenant.workspace_id, base + seq, f"{tag}{message_id}",
                        {**values, "source_id": source.id})
                   for seq, (message_id, values) in enumerate(batch)),
                  key=lambda row: row["message_id"])
    totals = {source.id: express.SourceTotals(len(rows), 0, len(rows))}
    async with db.autocommit() as connection:
        stored = await express.append(connection, tenant.workspace_id, rows, sources=totals,
                                      event_type=APPENDED, received_at=datetime.now(UTC))
    first_of_each = {row["message_id"]: row for row in reversed(rows)}
    assert stored == set(first_of_each)
    found = [row for row in await _stored_rows(db, tenant.workspace_id)
             if row["message_id"].startswith(tag)]
    expected = sorted(first_of_each.values(), key=lambda row: row["seq"])
    for row in expected:
        row["payload"] = getattr(row["payload"], "value", row["payload"])
    assert found == expected
