"""The Segment HTTP API: auth, dedup, limits and every rejection path, on the real store."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy import Text, cast, select

from cxprism.kit.db import Database
from cxprism.tracking.models import TrackedEvent
from cxprism.workspaces.service import WorkspaceService
from tests.fixtures.builders import Tenant
from tests.tracking.helpers import Source, drain, make_source, post, stored_count, track


@pytest.fixture
async def source(db: Database, tenant: Tenant) -> Source:
    return await make_source(db, tenant)


async def test_a_track_call_is_stored_once_and_answered_as_segment_does(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    response = await post(client, "/v1/track", source, track(1))
    assert response.status_code == 200
    assert response.json()["success"] is True
    again = await post(client, "/v1/track", source, track(1))
    assert again.status_code == 200
    assert await stored_count(db) == 1


async def test_every_way_segment_sends_the_write_key_is_accepted(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    assert (await post(client, "/v1/track", source, track(1))).status_code == 200
    bearer = {"Authorization": f"Bearer {source.write_key}"}
    assert (await client.post("/v1/track", json=track(2), headers=bearer)).status_code == 200
    in_body = {**track(3), "writeKey": source.write_key}
    assert (await client.post("/v1/track", json=in_body)).status_code == 200
    assert await stored_count(db) == 3


async def test_the_write_key_in_a_body_is_never_stored(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    await client.post("/v1/track", json={**track(1), "writeKey": source.write_key})
    events = (await client.get("/api/v1/events", headers=tenant.headers)).text
    assert source.write_key not in events


@pytest.mark.parametrize("headers", [
    {"Authorization": "Basic d2tfYmFkX2tleTo="},  # wk_bad_key:
    {"Authorization": "Bearer wk_000000000000_forged"},
    {"Authorization": "Basic not-base64!"},
    {"Authorization": "Digest abc"},
    {},
])
async def test_a_bad_write_key_gets_401_and_stores_nothing(
        client: httpx.AsyncClient, db: Database, source: Source,
        headers: dict[str, str]) -> None:
    response = await client.post("/v1/batch", json={"batch": [track(1)]}, headers=headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthorized"
    assert await stored_count(db) == 0


async def test_a_revoked_write_key_gets_401_at_once_and_stores_nothing(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    assert (await post(client, "/v1/track", source, track(1))).status_code == 200  # cached
    async with db.session() as session:
        await WorkspaceService(session, tenant.workspace_id).revoke_source(source.id)
        await session.commit()
    response = await post(client, "/v1/track", source, track(2))
    assert response.status_code == 401
    assert await stored_count(db) == 1


async def test_gzip_bodies_are_accepted(client: httpx.AsyncClient, db: Database,
                                        source: Source) -> None:
    body = gzip.compress(orjson.dumps({"batch": [track(1), track(2)]}))
    response = await client.post("/v1/batch", content=body, headers={
        **source.basic, "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert await stored_count(db) == 2


async def test_a_gzip_bomb_is_refused_without_inflating_it(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    bomb = gzip.compress(b'{"batch": [' + b" " * 50_000_000 + b"]}")
    assert len(bomb) < 100_000
    response = await client.post("/v1/batch", content=bomb, headers={
        **source.basic, "Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert await stored_count(db) == 0


@pytest.mark.parametrize(("body", "code"), [
    (b"not json", "malformed_json"), (b"[1, 2]", "bad_request"),
    (b'{"batch": {"type": "track"}}', "bad_request"), (b'{"sentAt": "x"}', "bad_request")])
async def test_unreadable_batches_get_400_and_store_nothing(
        client: httpx.AsyncClient, db: Database, source: Source, body: bytes,
        code: str) -> None:
    response = await client.post("/v1/batch", content=body, headers=source.basic)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert await stored_count(db) == 0


async def test_a_message_that_cannot_be_stored_is_rejected_alone_and_the_rest_kept(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    """Invalid UTF-8 inside one message: that message is rejected by index, the batch's
    other messages are stored, as sent (white space and all)."""
    good = b'{"type": "track", "userId": "u1", "event": "Viewed",  "messageId": "m-good"}'
    bad = b'{"type": "track", "userId": "u2", "event": "Viewed", "properties": {"s": "\xff"}}'
    response = await client.post("/v1/batch", content=b'{"batch": [' + bad + b", " + good
                                 + b"]}", headers=source.basic)
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1 and [r["index"] for r in body["rejected"]] == [0]
    assert "UTF-8" in body["rejected"][0]["reason"]
    assert await stored_count(db) == 1
    async with db.session() as session:
        event = (await session.execute(select(TrackedEvent))).scalar_one()
        text_ = (await session.execute(select(cast(TrackedEvent.payload, Text)))).scalar_one()
    assert event.message_id == "m-good" and event.payload["event"] == "Viewed"
    assert text_ == good.decode()  # the message as sent


async def test_broken_gzip_and_unknown_encodings_are_refused(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    broken = await client.post("/v1/batch", content=b"\x1f\x8bnot gzip", headers={
        **source.basic, "Content-Encoding": "gzip"})
    assert broken.status_code == 400
    truncated = gzip.compress(orjson.dumps({"batch": [track(1)]}))[:-12]
    cut = await client.post("/v1/batch", content=truncated, headers={
        **source.basic, "Content-Encoding": "gzip"})
    assert cut.status_code == 400
    brotli = await client.post("/v1/batch", content=b"{}", headers={
        **source.basic, "Content-Encoding": "br"})
    assert brotli.status_code == 415
    assert await stored_count(db) == 0


REJECTIONS = [
    ({"type": "track", "event": "X", "messageId": "m"}, "userId or an anonymousId"),
    ({**track(), "type": "purchase"}, "type must be one of"),
    ({**track(), "event": ""}, "event name"),
    ({**track(), "event": 42}, "event name"),
    ({**track(), "timestamp": "yesterday"}, "not an ISO-8601"),
    ({**track(), "timestamp": 1700000000}, "ISO-8601"),
    ({**track(), "sentAt": "2026-13-45T00:00:00Z"}, "sentAt"),
    ({**track(), "userId": {"id": 1}}, "userId must be a string"),
    ({**track(), "anonymousId": ["a"], "userId": None}, "anonymousId must be a string"),
    ({**track(), "userId": "x" * 256}, "at most 255"),
    ({**track(), "userId": "bad\nid"}, "control characters"),
    ({**track(), "properties": [1, 2]}, "properties must be an object"),
    ({**track(), "context": "web"}, "context must be an object"),
    ({**track(), "properties": {"note": "nul\u0000byte"}}, "NUL"),
    ({**track(), "properties": {"blob": "x" * 33_000}}, "the limit is 32768"),
    ({"type": "group", "userId": "u", "messageId": "g"}, "groupId"),
    ({"type": "alias", "userId": "u", "messageId": "a"}, "previousId"),
    ("not an object", "must be a JSON object"),
]


@pytest.mark.parametrize(("message", "reason"), REJECTIONS)
async def test_each_rejection_path_names_its_reason_and_stores_nothing(
        client: httpx.AsyncClient, db: Database, source: Source, message: object,
        reason: str) -> None:
    response = await post(client, "/v1/batch", source, {"batch": [message]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_messages"
    [rejected] = error["details"]["rejected"]
    assert rejected["index"] == 0
    assert reason in rejected["reason"]
    assert await stored_count(db) == 0


async def test_a_batch_keeps_its_valid_messages_and_lists_the_rejected_ones(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    batch = [track(0), {**track(1), "userId": None}, track(2), {**track(3), "event": ""}]
    response = await post(client, "/v1/batch", source, {"batch": batch})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert [r["index"] for r in body["rejected"]] == [1, 3]
    assert await stored_count(db) == 2
    await drain(db)  # the counters are added by a consumer, off the ingestion path
    stats = (await client.get(f"/api/v1/sources/{source.id}/stats",
                              headers=tenant.headers)).json()
    assert (stats["received"], stats["stored"], stats["rejected"]) == (4, 2, 2)


async def test_a_single_call_endpoint_takes_only_its_own_type(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    response = await post(client, "/v1/identify", source, track(1))
    assert response.status_code == 400
    assert "this endpoint takes 'identify'" in response.text
    ok = await post(client, "/v1/identify", source, {"userId": "u1", "traits": {"plan": "pro"}})
    assert ok.status_code == 200
    assert await stored_count(db) == 1


async def test_bodies_over_segment_limits_get_413(client: httpx.AsyncClient, db: Database,
                                                  source: Source) -> None:
    big = {**track(1), "properties": {"blob": "x" * 40_000}}
    assert (await post(client, "/v1/track", source, big)).status_code == 413
    batch = {"batch": [{**track(n), "properties": {"b": "x" * 20_000}} for n in range(30)]}
    assert (await post(client, "/v1/batch", source, batch)).status_code == 413
    assert await stored_count(db) == 0


async def test_replaying_a_batch_five_times_stores_each_event_once(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    batch = {"batch": [track(n) for n in range(20)]}
    for _ in range(5):
        assert (await post(client, "/v1/batch", source, batch)).status_code == 200
    assert await stored_count(db) == 20
    await drain(db)
    stats = (await client.get(f"/api/v1/sources/{source.id}/stats",
                              headers=tenant.headers)).json()
    assert (stats["received"], stats["stored"], stats["deduplicated"]) == (100, 20, 80)


async def test_a_message_id_twice_in_one_batch_is_stored_once(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    response = await post(client, "/v1/batch", source, {"batch": [track(1), track(1)]})
    assert response.status_code == 200
    assert await stored_count(db) == 1


async def test_two_workspaces_sending_one_message_id_each_keep_theirs(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant,
        source: Source) -> None:
    theirs = await make_source(db, other_tenant)
    assert (await post(client, "/v1/track", source, track(7))).status_code == 200
    assert (await post(client, "/v1/track", theirs, track(7))).status_code == 200
    assert await stored_count(db, tenant.workspace_id) == 1
    assert await stored_count(db, other_tenant.workspace_id) == 1
    mine = (await client.get("/api/v1/events", headers=tenant.headers)).json()["data"]
    assert [e["source_id"] for e in mine] == [str(source.id)]


async def test_concurrent_requests_share_commits_and_all_land(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    import asyncio

    responses = await asyncio.gather(*(
        post(client, "/v1/batch", source, {"batch": [track(n * 10 + k) for k in range(10)]})
        for n in range(30)))
    assert all(r.status_code == 200 for r in responses)
    assert await stored_count(db) == 300


async def test_browsers_get_cors_answers(client: httpx.AsyncClient, source: Source) -> None:
    preflight = await client.options("/v1/t", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST"})
    assert preflight.status_code == 204
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert {"authorization", "content-type", "content-encoding"} <= set(allowed.split(", "))
    assert int(preflight.headers["access-control-max-age"]) > 0
    response = await client.post("/v1/t", content=orjson.dumps(
        {**track(1), "writeKey": source.write_key}), headers={"Content-Type": "text/plain"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    # What may be sent is the preflight's to say; the answer itself only names the origin.
    assert "access-control-allow-methods" not in response.headers


async def test_source_counters_count_every_commit_once_even_when_nothing_was_stored(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    assert (await post(client, "/v1/batch", source,
                       {"batch": [track(1), track(2)]})).status_code == 200
    await drain(db)
    # A commit of duplicates only, and a request none of whose messages is valid.
    assert (await post(client, "/v1/batch", source, {"batch": [track(1)]})).status_code == 200
    bad = {"batch": [{**track(3), "userId": None}]}
    assert (await post(client, "/v1/batch", source, bad)).status_code == 400
    await drain(db)
    await drain(db)  # nothing is added twice
    stats = (await client.get(f"/api/v1/sources/{source.id}/stats",
                              headers=tenant.headers)).json()
    assert (stats["received"], stats["stored"], stats["deduplicated"], stats["rejected"]) == (
        4, 2, 1, 1)
    assert stats["last_received_at"] is not None


async def test_an_appended_event_from_before_counters_rode_on_it_is_skipped_by_the_counter(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, source: Source) -> None:
    from cxprism.bus import events
    from cxprism.bus.models import ConsumerFailure
    from cxprism.tracking.ingest import APPENDED

    async with db.session() as session:  # the shape an earlier version recorded
        events.record(session, tenant.workspace_id, APPENDED,
                      {"first_seq": 1, "last_seq": 1, "stored": 1})
        await session.commit()
    await drain(db)
    async with db.session() as session:
        failures = list((await session.execute(select(ConsumerFailure))).scalars())
    assert [f.consumer for f in failures if f.consumer == "tracking.source_stats"] == []
    stats = (await client.get(f"/api/v1/sources/{source.id}/stats",
                              headers=tenant.headers)).json()
    assert stats["received"] == 0


async def test_after_its_connections_die_the_ingestor_writes_on_fresh_ones(
        client: httpx.AsyncClient, db: Database, source: Source) -> None:
    """The ingestor's own pool does not ping on checkout: a dead connection fails a write,
    which is retried on a fresh one, and the request still gets its 200 (PostgreSQL)."""
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no connections to lose")
    from sqlalchemy import text

    assert (await post(client, "/v1/track", source, track(1))).status_code == 200
    async with db.session() as session:  # kill every other backend: the ingestor's too
        killed = (await session.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"))).scalar_one()
    assert killed >= 1
    responses = [await post(client, "/v1/track", source, track(n)) for n in (2, 3)]
    assert [r.status_code for r in responses] == [200, 200]
    assert await stored_count(db) == 3


async def test_the_ingestor_writes_on_one_kept_connection(
        app: FastAPI, client: httpx.AsyncClient, source: Source,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Its own pool, on SQLite too: opening a connection per commit (with its thread and
    pragmas) cost more than a small commit itself. On PostgreSQL single events go as
    express statements, on connections kept outside the engine's pool (kit.pg_autocommit)."""
    from sqlalchemy import event

    from cxprism.tracking.gateway import gateway_of

    ingestor_db = gateway_of(app.state).ingestor.db
    connects: list[object] = []
    event.listen(ingestor_db.engine.sync_engine, "connect", lambda *_: connects.append(1))
    if ingestor_db.dialect == "postgresql":
        import asyncpg

        real_connect = asyncpg.connect

        async def counted(*args: Any, **kwargs: Any) -> Any:
            connects.append(2)
            return await real_connect(*args, **kwargs)

        monkeypatch.setattr(asyncpg, "connect", counted)
    for n in range(3):
        assert (await post(client, "/v1/track", source, track(n))).status_code == 200
    assert connects == ([2] if ingestor_db.dialect == "postgresql" else [1])
