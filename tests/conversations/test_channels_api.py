"""Connecting channels: validated config, secrets encrypted and never returned, one owner."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from cxprism.channels.models import Channel
from cxprism.kit.db import Database
from tests.conversations.helpers import KIND, SECRET, connector, make_channel
from tests.fixtures.builders import Tenant


async def test_secrets_are_encrypted_at_rest_and_never_returned(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    created = await make_channel(client, tenant.headers)
    listed = await client.get("/api/v1/channels", headers=tenant.headers)
    for body in (created, listed.json()["data"][0]):
        assert SECRET not in str(body)
        assert body["secrets_set"] == ["signing_secret"]
        assert body["inbound_url"].endswith(f"/hooks/{KIND}/{created['id']}")
    async with db.session() as session:
        row = (await session.execute(select(Channel))).scalar_one()
    assert SECRET.encode() not in (row.secrets or b"") and SECRET not in str(row.config)


async def test_bad_config_is_refused_with_the_fields_to_fix(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    connector()
    response = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": KIND, "name": "Chat", "config": {"account": "x", "extra": 1}})
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert {"signing_secret", "extra"} <= fields
    unknown = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": "carrier-pigeon", "name": "x", "config": {}})
    assert unknown.status_code == 422 and "carrier-pigeon" in unknown.json()["error"]["message"]


async def test_one_inbound_address_belongs_to_one_channel_across_workspaces(
        client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    await make_channel(client, tenant.headers, account="shared")
    connector()
    clash = await client.post("/api/v1/channels", headers=other_tenant.headers, json={
        "kind": KIND, "name": "Chat", "config": {"account": "shared", "signing_secret": "s"}})
    assert clash.status_code == 409 and clash.json()["error"]["code"] == "address_taken"


async def test_updating_config_keeps_secrets_that_were_left_out(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    created = await make_channel(client, tenant.headers)
    updated = await client.patch(f"/api/v1/channels/{created['id']}", headers=tenant.headers,
                                 json={"name": "Renamed", "config": {"account": "new-account"}})
    assert updated.status_code == 200, updated.text
    body = updated.json()
    assert (body["name"], body["address"], body["secrets_set"]) == (
        "Renamed", "new-account", ["signing_secret"])


async def test_connectors_list_their_config_schemas(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    connector()
    response = await client.get("/api/v1/connectors", headers=tenant.headers)
    kinds = {c["kind"]: c for c in response.json()["data"]}
    assert kinds[KIND]["secret_fields"] == ["signing_secret"]
    assert "account" in kinds[KIND]["config_schema"]["properties"]
