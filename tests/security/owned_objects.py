"""Workspace A's objects of every kind, for the tenant-isolation walk."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from cxprism.kit.db import Database
from cxprism.scheduler.service import enqueue
from tests.fixtures.builders import Tenant

ALICE = "alice@acme.example"
BOB = "bob@acme.example"

# Routes whose query string names A's data, to be tried with B's credentials.
QUERIES = {("GET", "/api/v1/customers/lookup"): f"?kind=email&value={ALICE}"}
NO_BODY = {"/api/v1/jobs/{job_id}/retry", "/api/v1/jobs/{job_id}/cancel"}


def _samples(ids: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        ("PATCH", "/api/v1/workspace"): {"name": "Walked"},
        ("POST", "/api/v1/users"): {"email": "walker@b.example", "name": "W", "role": "agent"},
        ("PATCH", "/api/v1/users/{user_id}"): {"name": "Hijacked", "role": "admin"},
        ("POST", "/api/v1/teams"): {"name": "walker team"},
        ("PATCH", "/api/v1/teams/{team_id}"): {"name": "hijacked"},
        ("POST", "/api/v1/teams/{team_id}/members"): {"user_id": ids["user_id"]},
        ("POST", "/api/v1/api-keys"): {"name": "walker"},
        ("POST", "/api/v1/sources"): {"name": "walker", "kind": "server"},
        ("POST", "/api/v1/customers"): {"identities": [{"kind": "email", "value": ALICE}]},
        ("POST", "/api/v1/customers/merge"): {
            "winner_id": ids["customer_id"], "loser_id": ids["other_customer_id"]},
        ("PATCH", "/api/v1/customers/{customer_id}"): {"traits": {"plan": "hijacked"}},
        ("POST", "/api/v1/customers/{customer_id}/identities"): {
            "identities": [{"kind": "email", "value": "mallory@evil.example"}]},
        ("POST", "/api/v1/customers/{customer_id}/consent"): {
            "channel": "email", "purpose": "marketing", "status": "withdrawn",
            "source": "walker"},
        ("POST", "/api/v1/customers/{customer_id}/erase"): {"suppress": True},
    }


def sample_body(method: str, path: str, ids: dict[str, str]) -> dict[str, Any] | None:
    if method not in ("POST", "PATCH", "PUT") or path in NO_BODY:
        return None
    samples = _samples(ids)
    assert (method, path) in samples, f"add a sample body for {method} {path}"
    return samples[(method, path)]


@dataclass
class OwnedObjects:
    ids: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def query_for(self, method: str, path: str) -> str:
        return QUERIES.get((method, path), "")

    def refers_to_foreign_ids(self, method: str, path: str) -> bool:
        return (method, path) in QUERIES or (method, path) == ("POST", "/api/v1/customers/merge")

    def leaks_into(self, text: str) -> bool:
        # Job ids are small integers, found in any text: the walk checks job lists itself.
        values = [v for k, v in self.ids.items() if k != "job_id"] + self.secrets
        return any(value in text for value in values)

    async def snapshot(self, client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
        h = tenant.headers
        ids = self.ids
        paths = [f"/api/v1/users/{ids['user_id']}", f"/api/v1/teams/{ids['team_id']}",
                 "/api/v1/sources", "/api/v1/workspace",
                 f"/api/v1/customers/{ids['customer_id']}",
                 f"/api/v1/customers/{ids['other_customer_id']}",
                 f"/api/v1/customers/{ids['customer_id']}/consent?history=true",
                 f"/api/v1/jobs/{ids['job_id']}"]
        state = {path: (await client.get(path, headers=h)).json() for path in paths}
        keys = (await client.get("/api/v1/api-keys", headers=h)).json()["data"]
        state["api-keys"] = [{k: v for k, v in key.items() if k != "last_used_at"}
                             for key in keys]
        return state


async def build_owned_objects(client: httpx.AsyncClient, tenant: Tenant,
                              db: Database) -> OwnedObjects:
    h = tenant.headers

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(path, headers=h, json=body)
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()
        return data

    user = await post("/api/v1/users", {"email": "agent@acme.example", "name": "A",
                                        "role": "agent"})
    team = await post("/api/v1/teams", {"name": "A team"})
    await post(f"/api/v1/teams/{team['id']}/members", {"user_id": user["id"]})
    key = await post("/api/v1/api-keys", {"name": "A key", "role": "analyst"})
    source = await post("/api/v1/sources", {"name": "A site", "kind": "website"})
    alice = await post("/api/v1/customers", {
        "identities": [{"kind": "email", "value": ALICE}], "traits": {"plan": "pro"}})
    bob = await post("/api/v1/customers", {"identities": [{"kind": "email", "value": BOB}]})
    await post(f"/api/v1/customers/{alice['id']}/consent", {
        "channel": "email", "purpose": "marketing", "status": "granted", "source": "web_form"})
    async with db.session() as session:
        job_id = await enqueue(session, "walk.noop", {}, workspace_id=tenant.workspace_id)
        await session.commit()
    ids = {"user_id": user["id"], "team_id": team["id"], "key_id": key["id"],
           "source_id": source["id"], "customer_id": alice["id"],
           "other_customer_id": bob["id"], "job_id": str(job_id)}
    return OwnedObjects(ids=ids, secrets=[key["secret"], source["write_key"]])
