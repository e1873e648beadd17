"""A workspace's objects of every kind, and a sample body for every mutating route.

The walks (tenant isolation, roles, bad input) take their bodies from ``sample_body``: a
route added without a sample fails them all, so every route anyone adds gets walked.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import httpx

from cxprism.bus.backends import InProcessBackend
from cxprism.bus.consumers import registry
from cxprism.bus.relay import Relay
from cxprism.kit.db import Database
from cxprism.scheduler.service import enqueue
from cxprism.tracking import tasks  # noqa: F401 - registers the tracking consumers
from tests.conversations.helpers import KIND, SECRET, inbound, make_channel
from tests.fixtures.builders import Tenant

ALICE = "alice@acme.example"
BOB = "bob@acme.example"
CAROL = "carol@globex.example"  # workspace B's people: nothing in common with A's
DAVE = "dave@globex.example"



def _queries(ids: dict[str, str]) -> dict[tuple[str, str], str]:
    """Routes whose query string names A's data; with B's credentials they answer 404."""
    return {("GET", "/api/v1/customers/lookup"): f"?kind=email&value={ALICE}",
            ("GET", "/api/v1/events"): f"?customer_id={ids['customer_id']}",
            ("GET", "/api/v1/conversations"): f"?customer_id={ids['customer_id']}",
            ("GET", "/api/v1/outbound/sends"): f"?customer_id={ids['customer_id']}",
            ("GET", "/api/v1/ledger/consistency"): f"?old={ids['size']}&new={ids['size']}"}

# Searches naming A's data; with B's credentials they must find nothing.
SEARCHES = [
    f"?identity_kind=email&identity_value={ALICE}",
    "?identity_kind=email&identity_value=alice&match=prefix",
    "?identity_kind=email&identity_value=bob%40acme&match=prefix",
    "?trait=plan:pro",
]
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
        ("POST", "/api/v1/channels"): {"kind": KIND, "name": "walker", "config": {
            "account": "walker-chat", "signing_secret": "walker-secret"}},
        ("PATCH", "/api/v1/channels/{channel_id}"): {"name": "hijacked", "is_active": False},
        ("PATCH", "/api/v1/conversations/{conversation_id}"): {
            "status": "resolved", "assignee_id": ids["user_id"], "add_tags": ["walked"]},
        ("POST", "/api/v1/conversations/{conversation_id}/replies"): {"text": "walked"},
        ("POST", "/api/v1/conversations/{conversation_id}/notes"): {"text": "walked"},
        ("POST", "/api/v1/conversations/{conversation_id}/merge"): {
            "source_id": ids["other_conversation_id"]},
        ("POST", "/api/v1/conversations/bulk"): {
            "ids": [ids["conversation_id"]], "update": {"status": "resolved"}},
    }


# --- webhooks: bodiless routes, sample bodies, what the snapshot reads, the objects ---
WEBHOOK_NO_BODY = {"/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
                   "/api/v1/webhook-endpoints/{endpoint_id}/test",
                   "/api/v1/webhook-deliveries/{delivery_id}/redeliver"}


def _webhook_samples() -> dict[tuple[str, str], dict[str, Any]]:
    return {("POST", "/api/v1/webhook-endpoints"): {
                "url": "https://hooks.example.com/walker", "event_types": ["customer.*"]},
            ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"): {
                "description": "hijacked", "is_active": False}}


def _webhook_paths(ids: dict[str, str]) -> list[str]:
    return ["/api/v1/webhook-endpoints", f"/api/v1/webhook-deliveries/{ids['delivery_id']}",
            f"/api/v1/webhook-endpoints/{ids['endpoint_id']}/deliveries"]


async def _webhooks(client: httpx.AsyncClient, tenant: Tenant) -> tuple[dict[str, str], str]:
    """An endpoint and one delivery to it (a test event); the ids, and its secret."""
    endpoint = await client.post("/api/v1/webhook-endpoints", headers=tenant.headers, json={
        "url": f"https://hooks.example.com/{tenant.slug}", "event_types": ["customer.*"]})
    assert endpoint.status_code == 201, endpoint.text
    test = await client.post(f"/api/v1/webhook-endpoints/{endpoint.json()['id']}/test",
                             headers=tenant.headers)
    assert test.status_code == 202, test.text
    return ({"endpoint_id": endpoint.json()["id"], "delivery_id": test.json()["id"]},
            endpoint.json()["secret"])
# --- end of webhooks ---


# --- the outbound pipeline: bodiless routes, samples, what the snapshot reads, objects ---
OUTBOUND_NO_BODY = {"/api/v1/outbound/sends/{send_id}/cancel",
                    "/api/v1/outbound/sends/{send_id}/resend",
                    "/api/v1/outbound/marketing/resume"}


def _outbound_samples(ids: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    return {("POST", "/api/v1/outbound/sends"): {
                "customer_id": ids["customer_id"], "cause": "walker", "purpose": "marketing",
                "channel_id": ids["channel_id"], "content": {"text": "walked"}},
            ("POST", "/api/v1/outbound/sends/batch"): {"sends": [{
                "customer_id": ids["customer_id"], "cause": "walker-batch",
                "purpose": "marketing", "channel_id": ids["channel_id"],
                "content": {"text": "walked"}}]},
            ("POST", "/api/v1/outbound/templates"): {
                "name": "walker", "medium": "email", "subject": "walked", "text": "walked"},
            ("POST", "/api/v1/outbound/templates/{template_id}/preview"): {
                "customer_id": ids["customer_id"]},
            ("PATCH", "/api/v1/outbound/policy"): {"channel_order": ["sms"]},
            ("POST", "/api/v1/outbound/marketing/pause"): {"reason": "walker"},
            ("PUT", "/api/v1/outbound/budgets"): {"medium": "sms", "daily_limit": 1}}


def _outbound_paths(ids: dict[str, str]) -> list[str]:
    return ["/api/v1/outbound/sends", f"/api/v1/outbound/sends/{ids['send_id']}",
            "/api/v1/outbound/templates", "/api/v1/outbound/policy",
            "/api/v1/outbound/budgets"]


async def _outbound(client: httpx.AsyncClient, tenant: Tenant, customer_id: str,
                    channel_id: str) -> dict[str, str]:
    """A template and a send (queued to the walk's chat channel)."""
    template = await client.post("/api/v1/outbound/templates", headers=tenant.headers, json={
        "name": "welcome", "medium": "email", "subject": "Hi", "text": "Hello"})
    assert template.status_code == 201, template.text
    send = await client.post("/api/v1/outbound/sends", headers=tenant.headers, json={
        "customer_id": customer_id, "cause": f"{tenant.slug}-receipt",
        "purpose": "transactional", "channel_id": channel_id, "content": {"text": "Hello"}})
    assert send.status_code == 201 and send.json()["status"] == "queued", send.text
    return {"template_id": template.json()["id"], "send_id": send.json()["id"]}
# --- end of the outbound pipeline ---


# --- the trust ledger: bodiless routes, samples, what the snapshot reads, the objects ---
LEDGER_NO_BODY = {"/api/v1/ledger/checkpoints", "/api/v1/ledger/audit"}
NUMBERED = {"job_id", "index", "size"}  # small integers, found in any text


def _ledger_samples() -> dict[tuple[str, str], dict[str, Any]]:
    return {("PUT", "/api/v1/ledger/witness"): {"url": "https://witness.example.com/walker"},
            ("POST", "/api/v1/ledger/receipts"): {"indices": [0]}}


def _ledger_paths(ids: dict[str, str]) -> list[str]:
    return ["/api/v1/ledger/entries", "/api/v1/ledger/checkpoints", "/api/v1/ledger/witness",
            f"/api/v1/ledger/entries/{ids['index']}"]


async def _ledger(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> dict[str, str]:
    """Every event so far relayed (the ledger appends its own), and a checkpoint."""
    relay = Relay(db, InProcessBackend(db, registry))
    while await relay.run_once():
        pass
    signed = await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)
    assert signed.status_code == 201, signed.text
    size = signed.json()["size"]
    last = await client.get(f"/api/v1/ledger/entries/{size - 1}", headers=tenant.headers)
    return {"index": str(size - 1), "size": str(size), "event_id": last.json()["event_id"]}
# --- end of the trust ledger ---


def sample_body(method: str, path: str, ids: dict[str, str]) -> dict[str, Any] | None:
    if method not in ("POST", "PATCH", "PUT") or path in (NO_BODY | WEBHOOK_NO_BODY
                                                           | OUTBOUND_NO_BODY | LEDGER_NO_BODY):
        return None
    samples = _samples(ids) | _webhook_samples() | _outbound_samples(ids) | _ledger_samples()
    assert (method, path) in samples, f"add a sample body for {method} {path}"
    return samples[(method, path)]


def body_id_names(method: str, path: str, ids: dict[str, str]) -> list[str]:
    """The names of the ids a route's sample body carries (found by changing each one)."""
    plain = sample_body(method, path, ids)
    if plain is None:
        return []
    return [name for name in ids
            if sample_body(method, path, {**ids, name: f"changed-{name}"}) != plain]


@dataclass
class OwnedObjects:
    ids: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def query_for(self, method: str, path: str) -> str:
        return _queries(self.ids).get((method, path), "")

    def refers_to_foreign_ids(self, method: str, path: str) -> bool:
        return bool(self.query_for(method, path) or body_id_names(method, path, self.ids))

    def leaks_into(self, text: str) -> bool:
        # Job ids and ledger indices are small integers, found in any text: the walk checks
        # job lists itself.
        values = [v for k, v in self.ids.items() if k not in NUMBERED] + self.secrets
        return any(value in text for value in values)

    async def snapshot(self, client: httpx.AsyncClient, tenant: Tenant) -> dict[str, Any]:
        """Everything the walks could change, read back with the workspace's admin key."""
        ids = self.ids
        paths = [f"/api/v1/users/{ids['user_id']}", f"/api/v1/teams/{ids['team_id']}",
                 "/api/v1/users", "/api/v1/teams", "/api/v1/sources", "/api/v1/workspace",
                 "/api/v1/customers", f"/api/v1/customers/{ids['customer_id']}",
                 f"/api/v1/customers/{ids['other_customer_id']}",
                 f"/api/v1/customers/{ids['customer_id']}/consent?history=true",
                 f"/api/v1/jobs/{ids['job_id']}", "/api/v1/jobs",
                 f"/api/v1/groups/{ids['group_id']}", "/api/v1/events",
                 "/api/v1/channels", "/api/v1/conversations",
                 f"/api/v1/conversations/{ids['conversation_id']}/messages",
                 f"/api/v1/conversations/{ids['other_conversation_id']}/messages"]
        state = {path: (await client.get(path, headers=tenant.headers)).json()
                 for path in paths + _webhook_paths(ids) + _outbound_paths(ids)
                 + _ledger_paths(ids)}
        keys = (await client.get("/api/v1/api-keys", headers=tenant.headers)).json()["data"]
        state["api-keys"] = [{k: v for k, v in key.items() if k != "last_used_at"}
                             for key in keys]
        return state


async def build_owned_objects(client: httpx.AsyncClient, tenant: Tenant, db: Database,
                              people: tuple[str, str] = (ALICE, BOB)) -> OwnedObjects:
    h = tenant.headers

    async def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(path, headers=h, json=body)
        assert response.status_code in (200, 201), response.text
        data: dict[str, Any] = response.json()
        return data

    user = await post("/api/v1/users", {"email": f"agent@{tenant.slug}.example", "name": "A",
                                        "role": "agent"})
    team = await post("/api/v1/teams", {"name": f"{tenant.slug} team"})
    await post(f"/api/v1/teams/{team['id']}/members", {"user_id": user["id"]})
    key = await post("/api/v1/api-keys", {"name": f"{tenant.slug} key", "role": "analyst"})
    source = await post("/api/v1/sources", {"name": f"{tenant.slug} site", "kind": "website"})
    first = await post("/api/v1/customers", {
        "identities": [{"kind": "email", "value": people[0]}], "traits": {"plan": "pro"}})
    second = await post("/api/v1/customers", {
        "identities": [{"kind": "email", "value": people[1]}]})
    await post(f"/api/v1/customers/{first['id']}/consent", {
        "channel": "email", "purpose": "marketing", "status": "granted", "source": "web_form"})
    async with db.session() as session:
        job_id = await enqueue(session, "walk.noop", {}, workspace_id=tenant.workspace_id)
        await session.commit()
    group_id = await _tracked_group(client, db, tenant, source["write_key"])
    talk = await _conversations(client, tenant, people)
    hooks, hook_secret = await _webhooks(client, tenant)
    sends = await _outbound(client, tenant, first["id"], talk["channel_id"])
    ids = {"user_id": user["id"], "team_id": team["id"], "key_id": key["id"],
           "source_id": source["id"], "customer_id": first["id"],
           "other_customer_id": second["id"], "job_id": str(job_id), "group_id": group_id,
           **talk, **hooks, **sends}
    ids |= await _ledger(client, db, tenant)
    return OwnedObjects(ids=ids, secrets=[key["secret"], source["write_key"], SECRET,
                                          hook_secret])


async def _conversations(client: httpx.AsyncClient, tenant: Tenant,
                         people: tuple[str, str]) -> dict[str, str]:
    """A channel, and two conversations on it (one with an attachment) from its people."""
    channel = await make_channel(client, tenant.headers, account=f"{tenant.slug}-chat")
    attachment = {"filename": "invoice.pdf", "content_type": "application/pdf",
                  "data": base64.b64encode(b"%PDF-1.4 " + tenant.slug.encode()).decode()}
    for number, person in enumerate(people):
        response = await inbound(client, channel, id=f"{tenant.slug}-{number}", text="hello",
                                 thread=f"{tenant.slug}-{number}", attachments=[attachment],
                                 **{"from": person})
        assert response.status_code == 200, response.text
    listed = await client.get("/api/v1/conversations", headers=tenant.headers)
    first, second = listed.json()["data"]
    messages = await client.get(f"/api/v1/conversations/{first['id']}/messages",
                                headers=tenant.headers)
    [message] = messages.json()["data"]
    return {"channel_id": channel["id"], "conversation_id": first["id"],
            "other_conversation_id": second["id"], "message_id": message["id"],
            "attachment_id": message["attachments"][0]["id"]}


async def _tracked_group(client: httpx.AsyncClient, db: Database, tenant: Tenant,
                         write_key: str) -> str:
    """A group (and its tracked event), sent the way a website's Segment SDK would."""
    group_id = f"{tenant.slug}-group"
    basic = base64.b64encode(f"{write_key}:".encode()).decode()
    response = await client.post("/v1/group", headers={"Authorization": f"Basic {basic}"},
                                 json={"type": "group", "userId": f"{tenant.slug}-member",
                                       "groupId": group_id, "messageId": f"{group_id}-1",
                                       "traits": {"name": tenant.slug.title()}})
    assert response.status_code == 200, response.text
    relay = Relay(db, InProcessBackend(db, registry))
    while await relay.run_once():  # the group is recorded by a consumer
        pass
    seen = await client.get(f"/api/v1/groups/{group_id}", headers=tenant.headers)
    assert seen.status_code == 200, seen.text
    return group_id
