"""The jobs API: list, filter, paginate, retry, cancel; tenancy and permissions."""

from __future__ import annotations

import httpx

from cxprism.kit.db import Database
from cxprism.workspaces.permissions import Role
from tests.fixtures.builders import Tenant, api_key_for
from tests.scheduler.helpers import enqueue_committed, load, update_job


async def test_list_filters_and_paginates_own_jobs(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, other_tenant: Tenant) -> None:
    mine = [await enqueue_committed(db, "mail.send", workspace_id=tenant.workspace_id)
            for _ in range(3)]
    other_kind = await enqueue_committed(db, "sms.send", workspace_id=tenant.workspace_id)
    await enqueue_committed(db, "mail.send", workspace_id=other_tenant.workspace_id)
    await enqueue_committed(db, "platform.job")  # no workspace: operators only
    await update_job(db, mine[0], status="dead", last_error="boom")

    seen: list[int] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/api/v1/jobs", params=params, headers=tenant.headers)
        assert response.status_code == 200
        body = response.json()
        seen += [job["id"] for job in body["data"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted([*mine, other_kind], reverse=True)

    by_kind = await client.get("/api/v1/jobs", params={"kind": "sms.send"},
                               headers=tenant.headers)
    assert [job["id"] for job in by_kind.json()["data"]] == [other_kind]
    dead = await client.get("/api/v1/jobs", params={"status": "dead"}, headers=tenant.headers)
    assert [(j["id"], j["last_error"]) for j in dead.json()["data"]] == [(mine[0], "boom")]


async def test_bad_cursor_and_status_are_rejected(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for params in ({"cursor": "not-a-cursor"}, {"cursor": "am9iOi0x"}, {"status": "sleeping"},
                   {"limit": 0}):
        response = await client.get("/api/v1/jobs", params=params, headers=tenant.headers)
        assert response.status_code == 422, params
        assert response.json()["error"]["code"] == "validation_error"


async def test_get_retry_and_cancel(client: httpx.AsyncClient, db: Database,
                                    tenant: Tenant) -> None:
    dead = await enqueue_committed(db, "x", workspace_id=tenant.workspace_id)
    await update_job(db, dead, status="dead", attempts=10, last_error="boom")
    queued = await enqueue_committed(db, "x", workspace_id=tenant.workspace_id)
    running = await enqueue_committed(db, "x", workspace_id=tenant.workspace_id)
    await update_job(db, running, status="running", lease_owner="w")

    got = await client.get(f"/api/v1/jobs/{dead}", headers=tenant.headers)
    assert (got.status_code, got.json()["status"]) == (200, "dead")

    retried = await client.post(f"/api/v1/jobs/{dead}/retry", headers=tenant.headers)
    assert retried.status_code == 200
    assert (retried.json()["status"], retried.json()["attempts"]) == ("queued", 0)

    cancelled = await client.post(f"/api/v1/jobs/{queued}/cancel", headers=tenant.headers)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    again = await client.post(f"/api/v1/jobs/{queued}/cancel", headers=tenant.headers)
    assert again.status_code == 409
    retried_cancel = await client.post(f"/api/v1/jobs/{queued}/retry", headers=tenant.headers)
    assert retried_cancel.json()["status"] == "queued"

    busy = await client.post(f"/api/v1/jobs/{running}/cancel", headers=tenant.headers)
    assert busy.status_code == 409
    assert "it is running now" in busy.json()["error"]["message"]
    assert (await load(db, running)).status == "running"
    not_failed = await client.post(f"/api/v1/jobs/{retried.json()['id']}/retry",
                                   headers=tenant.headers)
    assert not_failed.status_code == 409


async def test_other_workspace_job_is_not_found(client: httpx.AsyncClient, db: Database,
                                                tenant: Tenant, other_tenant: Tenant) -> None:
    theirs = await enqueue_committed(db, "x", workspace_id=other_tenant.workspace_id)
    for method, path in (("GET", f"/api/v1/jobs/{theirs}"),
                         ("POST", f"/api/v1/jobs/{theirs}/retry"),
                         ("POST", f"/api/v1/jobs/{theirs}/cancel")):
        response = await client.request(method, path, headers=tenant.headers)
        assert response.status_code == 404, path
    assert (await load(db, theirs)).status == "queued"


async def test_agent_may_not_manage_jobs(client: httpx.AsyncClient, db: Database,
                                         tenant: Tenant) -> None:
    job_id = await enqueue_committed(db, "x", workspace_id=tenant.workspace_id)
    agent = {"Authorization": f"Bearer {await api_key_for(db, tenant, Role.AGENT)}"}
    assert (await client.get("/api/v1/jobs", headers=agent)).status_code == 403
    cancel = await client.post(f"/api/v1/jobs/{job_id}/cancel", headers=agent)
    assert cancel.status_code == 403
    assert (await load(db, job_id)).status == "queued"
