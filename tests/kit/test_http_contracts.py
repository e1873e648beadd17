"""Contracts every route keeps: error body, bad input, size limit, idempotency, pagination."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.app import create_app
from cxprism.config import Settings
from cxprism.kit.db import Database
from cxprism.kit.errors import install_error_handlers
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.idempotency import IdempotencyRecord
from cxprism.workspaces.models import Team, User, Workspace
from cxprism.workspaces.permissions import Role
from tests.fixtures.builders import Tenant, api_key_for

NEW_USER = {"email": "new@acme.example", "name": "New", "role": "agent"}


async def count_users(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(User)) or 0)


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "Traceback" not in response.text


async def test_bad_input_gets_the_error_body_and_changes_nothing(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    before = await count_users(db)
    headers = {**tenant.headers, "Content-Type": "application/json"}
    cases = [
        b'{"email": "a@acme.example", "name": ',  # malformed JSON
        b'{"email": 42, "name": ["x"], "role": "agent"}',  # wrong types
        b'{"email": "a@acme.example", "name": "A", "role": "agent", "nickname": "a"}',
        b'{"email": "a@acme.example", "name": "A", "role": "agent", "workspace_id": '
        + f'"{tenant.workspace_id}"'.encode() + b"}",
        b'{"email": "a@acme.example", "name": "A", "role": "agent", "id": '
        b'"01900000-0000-7000-8000-000000000000", "created_at": "2020-01-01T00:00:00Z"}',
        b'{"email": "a@acme.example", "name": "A", "role": "overlord"}',
        b"[]",
        b"",
    ]
    for body in cases:
        response = await client.post("/api/v1/users", headers=headers, content=body)
        assert_error(response, 422, "validation_error")
    unknown = await client.post("/api/v1/users", headers=headers, content=cases[2])
    assert unknown.json()["error"]["details"][0]["field"] == "nickname"
    assert await count_users(db) == before


async def test_oversized_bodies_get_413(client: httpx.AsyncClient, tenant: Tenant,
                                        db: Database) -> None:
    before = await count_users(db)
    big = {**NEW_USER, "name": "x" * 70_000}
    assert_error(await client.post("/api/v1/users", headers=tenant.headers, json=big),
                 413, "payload_too_large")

    async def chunks():  # no Content-Length: the limit must hold on the stream too
        for _ in range(20):
            yield b" " * 8192

    streamed = await client.post("/api/v1/users", headers={
        **tenant.headers, "Content-Type": "application/json"}, content=chunks())
    assert_error(streamed, 413, "payload_too_large")
    assert await count_users(db) == before


async def test_unknown_route_and_method_use_the_error_body(client: httpx.AsyncClient,
                                                           tenant: Tenant) -> None:
    assert_error(await client.get("/api/v1/nothing-here", headers=tenant.headers),
                 404, "not_found")
    assert_error(await client.put("/api/v1/users", headers=tenant.headers, json={}),
                 405, "method_not_allowed")
    assert_error(await client.get("/api/v1/users/not-a-uuid", headers=tenant.headers),
                 422, "validation_error")


async def test_idempotency_key_replays_the_stored_response(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, db: Database) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "create-new-user-1"}
    first = await client.post("/api/v1/users", headers=headers, json=NEW_USER)
    again = await client.post("/api/v1/users", headers=headers, json=NEW_USER)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert await count_users(db) == 3  # two admins (one per tenant fixture) + one new user
    different = await client.post("/api/v1/users", headers=headers,
                                  json={**NEW_USER, "email": "other@acme.example"})
    assert_error(different, 409, "idempotency_key_reused")
    # The same key in another workspace is another key.
    theirs = await client.post("/api/v1/users", json=NEW_USER, headers={
        **other_tenant.headers, "Idempotency-Key": "create-new-user-1"})
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


async def test_failed_request_does_not_consume_the_idempotency_key(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "k-2"}
    failed = await client.post("/api/v1/users", headers=headers,
                               json={**NEW_USER, "role": "overlord"})
    assert failed.status_code == 422
    fixed = await client.post("/api/v1/users", headers=headers, json=NEW_USER)
    assert fixed.status_code == 201
    assert "idempotent-replayed" not in fixed.headers


async def test_idempotency_key_length_is_checked(client: httpx.AsyncClient,
                                                 tenant: Tenant) -> None:
    response = await client.post("/api/v1/users", json=NEW_USER,
                                 headers={**tenant.headers, "Idempotency-Key": "k" * 256})
    assert_error(response, 422, "validation_error")


async def test_cursor_pagination_walks_every_row_once(client: httpx.AsyncClient,
                                                      tenant: Tenant) -> None:
    for n in range(7):
        await client.post("/api/v1/teams", headers=tenant.headers, json={"name": f"team {n}"})
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/teams", headers=tenant.headers, params=params)).json()
        seen += [t["name"] for t in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"team {n}" for n in range(7)]
    for bad in ({"cursor": "%%%"}, {"cursor": "AAAA"}, {"limit": 0}, {"limit": 10_000}):
        assert_error(await client.get("/api/v1/teams", headers=tenant.headers, params=bad),
                     422, "validation_error")


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"


async def test_concurrent_requests_with_one_idempotency_key_apply_once(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    headers = {**tenant.headers, "Idempotency-Key": "burst"}
    responses = await asyncio.gather(*[
        client.post("/api/v1/users", headers=headers, json=NEW_USER) for _ in range(8)])
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    created_ids = {r.json()["id"] for r in responses if r.status_code == 201}
    assert len(created_ids) == 1  # replays carry the first response's id
    assert await count_users(db) == 2  # the fixture's admin + exactly one new user



async def test_a_unique_violation_in_a_request_is_a_409_and_keeps_nothing(
        db: Database, tenant: Tenant) -> None:
    # Two racing requests can both pass a service's "already exists?" check; the loser's
    # flush then hits the database's unique constraint. That must be a 409, not a 500.
    router = APIRouter(route_class=TransactionalRoute)

    @router.post("/race")
    async def race(session: AsyncSession = Depends(db_session)) -> dict[str, str]:
        session.add(Team(workspace_id=tenant.workspace_id, name="kept?"))
        session.add(Workspace(slug="acme", name="duplicate slug"))
        await session.flush()
        return {"status": "unreachable"}

    app = FastAPI()
    app.state.db = db
    install_error_handlers(app)
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as raw:
        response = await raw.post("/race")
    assert_error(response, 409, "concurrent_change")
    async with db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Team)) == 0


async def test_request_id_is_echoed_or_made_up(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "ticket-4711.a"})
    assert given.headers["x-request-id"] == "ticket-4711.a"
    hostile = await client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    made_up = hostile.headers["x-request-id"]
    assert len(made_up) == 32
    assert made_up != (await client.get("/healthz")).headers["x-request-id"]


async def test_an_unexpected_error_is_a_500_body_with_the_request_id(
        db: Database, settings: Settings) -> None:
    app = create_app(settings, database=db, run_workers=False)

    @app.get("/explode")
    async def explode() -> None:
        raise RuntimeError("secret internals")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as raw:
        response = await raw.get("/explode", headers={"X-Request-ID": "r-1"})
    assert_error(response, 500, "internal_error")
    assert response.json()["error"]["details"] == {"request_id": "r-1"}
    assert "secret internals" not in response.text


async def test_a_stored_response_is_encrypted_and_replayed_only_to_its_caller(
        client: httpx.AsyncClient, tenant: Tenant, db: Database) -> None:
    body = {"name": "etl", "role": "analyst"}
    first = await client.post("/api/v1/api-keys", json=body,
                              headers={**tenant.headers, "Idempotency-Key": "key-1"})
    secret = first.json()["secret"]
    async with db.session() as session:
        stored = (await session.execute(select(IdempotencyRecord.body))).scalars().all()
    assert stored and all(secret.encode() not in blob for blob in stored)
    again = await client.post("/api/v1/api-keys", json=body,
                              headers={**tenant.headers, "Idempotency-Key": "key-1"})
    assert again.json()["secret"] == secret
    other_admin = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.ADMIN)}"}
    stolen = await client.post("/api/v1/api-keys", json=body,
                               headers={**other_admin, "Idempotency-Key": "key-1"})
    assert_error(stolen, 409, "idempotency_key_reused")
    assert secret not in stolen.text
