"""Role walk: on every /api/v1 route, a role without the route's permission gets 403.

``ROUTE_PERMISSIONS`` names the permission each route needs; a route added without an entry
fails these tests. The table is checked against the code from both sides: every role
lacking the permission is refused (403 ``forbidden``, nothing changed), and every role
holding it gets past the check.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from cxprism.kit.db import Database
from cxprism.workspaces.permissions import Permission, Role, allows
from tests.fixtures.builders import Tenant, api_key_for
from tests.security.owned_objects import OwnedObjects, sample_body
from tests.security.walk import api_routes, assert_error, call, fill, never_existing

P = Permission
ROUTE_PERMISSIONS: dict[tuple[str, str], Permission] = {
    ("GET", "/api/v1/workspace"): P.USERS_READ,
    ("PATCH", "/api/v1/workspace"): P.WORKSPACE_MANAGE,
    ("GET", "/api/v1/users"): P.USERS_READ,
    ("POST", "/api/v1/users"): P.WORKSPACE_MANAGE,
    ("GET", "/api/v1/users/{user_id}"): P.USERS_READ,
    ("PATCH", "/api/v1/users/{user_id}"): P.WORKSPACE_MANAGE,
    ("GET", "/api/v1/teams"): P.USERS_READ,
    ("POST", "/api/v1/teams"): P.TEAMS_MANAGE,
    ("GET", "/api/v1/teams/{team_id}"): P.USERS_READ,
    ("PATCH", "/api/v1/teams/{team_id}"): P.TEAMS_MANAGE,
    ("DELETE", "/api/v1/teams/{team_id}"): P.TEAMS_MANAGE,
    ("POST", "/api/v1/teams/{team_id}/members"): P.TEAMS_MANAGE,
    ("DELETE", "/api/v1/teams/{team_id}/members/{user_id}"): P.TEAMS_MANAGE,
    ("GET", "/api/v1/api-keys"): P.WORKSPACE_MANAGE,
    ("POST", "/api/v1/api-keys"): P.WORKSPACE_MANAGE,
    ("DELETE", "/api/v1/api-keys/{key_id}"): P.WORKSPACE_MANAGE,
    ("GET", "/api/v1/sources"): P.WORKSPACE_MANAGE,
    ("POST", "/api/v1/sources"): P.WORKSPACE_MANAGE,
    ("DELETE", "/api/v1/sources/{source_id}"): P.WORKSPACE_MANAGE,
    ("GET", "/api/v1/customers"): P.CUSTOMERS_READ,
    ("POST", "/api/v1/customers"): P.CUSTOMERS_WRITE,
    ("GET", "/api/v1/customers/lookup"): P.CUSTOMERS_READ,
    ("POST", "/api/v1/customers/merge"): P.CUSTOMERS_MERGE,
    ("GET", "/api/v1/customers/{customer_id}"): P.CUSTOMERS_READ,
    ("PATCH", "/api/v1/customers/{customer_id}"): P.CUSTOMERS_WRITE,
    ("POST", "/api/v1/customers/{customer_id}/identities"): P.CUSTOMERS_WRITE,
    ("GET", "/api/v1/customers/{customer_id}/consent"): P.CUSTOMERS_READ,
    ("POST", "/api/v1/customers/{customer_id}/consent"): P.CUSTOMERS_WRITE,
    ("GET", "/api/v1/customers/{customer_id}/export"): P.PRIVACY_MANAGE,
    ("POST", "/api/v1/customers/{customer_id}/erase"): P.PRIVACY_MANAGE,
    ("GET", "/api/v1/jobs"): P.JOBS_MANAGE,
    ("GET", "/api/v1/jobs/{job_id}"): P.JOBS_MANAGE,
    ("POST", "/api/v1/jobs/{job_id}/retry"): P.JOBS_MANAGE,
    ("POST", "/api/v1/jobs/{job_id}/cancel"): P.JOBS_MANAGE,
    ("GET", "/api/v1/customers/{customer_id}/timeline"): P.CUSTOMERS_READ,
    ("GET", "/api/v1/customers/{customer_id}/groups"): P.CUSTOMERS_READ,
    ("GET", "/api/v1/events"): P.TRACKING_READ,
    ("GET", "/api/v1/event-names"): P.TRACKING_READ,
    ("GET", "/api/v1/sources/{source_id}/stats"): P.TRACKING_READ,
    ("GET", "/api/v1/groups/{group_id}"): P.TRACKING_READ,
    ("GET", "/api/v1/connectors"): P.CHANNELS_MANAGE,
    ("GET", "/api/v1/channels"): P.CHANNELS_MANAGE,
    ("POST", "/api/v1/channels"): P.CHANNELS_MANAGE,
    ("GET", "/api/v1/channels/{channel_id}"): P.CHANNELS_MANAGE,
    ("PATCH", "/api/v1/channels/{channel_id}"): P.CHANNELS_MANAGE,
    ("GET", "/api/v1/conversations"): P.CONVERSATIONS_READ,
    ("GET", "/api/v1/conversations/{conversation_id}"): P.CONVERSATIONS_READ,
    ("PATCH", "/api/v1/conversations/{conversation_id}"): P.CONVERSATIONS_WRITE,
    ("GET", "/api/v1/conversations/{conversation_id}/messages"): P.CONVERSATIONS_READ,
    ("POST", "/api/v1/conversations/{conversation_id}/replies"): P.CONVERSATIONS_WRITE,
    ("POST", "/api/v1/conversations/{conversation_id}/notes"): P.CONVERSATIONS_WRITE,
    ("POST", "/api/v1/conversations/{conversation_id}/merge"): P.CONVERSATIONS_WRITE,
    ("POST", "/api/v1/conversations/bulk"): P.CONVERSATIONS_WRITE,
    ("GET", "/api/v1/conversations/{conversation_id}/messages/{message_id}/attachments/"
     "{attachment_id}"): P.CONVERSATIONS_READ,
    # --- webhooks and the event catalogue ---
    ("GET", "/api/v1/event-types"): P.EVENTS_READ,
    ("GET", "/api/v1/webhook-endpoints"): P.WEBHOOKS_MANAGE,
    ("POST", "/api/v1/webhook-endpoints"): P.WEBHOOKS_MANAGE,
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}"): P.WEBHOOKS_MANAGE,
    ("PATCH", "/api/v1/webhook-endpoints/{endpoint_id}"): P.WEBHOOKS_MANAGE,
    ("DELETE", "/api/v1/webhook-endpoints/{endpoint_id}"): P.WEBHOOKS_MANAGE,
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret"): P.WEBHOOKS_MANAGE,
    ("POST", "/api/v1/webhook-endpoints/{endpoint_id}/test"): P.WEBHOOKS_MANAGE,
    ("GET", "/api/v1/webhook-endpoints/{endpoint_id}/deliveries"): P.WEBHOOKS_MANAGE,
    ("GET", "/api/v1/webhook-deliveries/{delivery_id}"): P.WEBHOOKS_MANAGE,
    ("POST", "/api/v1/webhook-deliveries/{delivery_id}/redeliver"): P.WEBHOOKS_MANAGE,
    # --- end of webhooks ---
    # --- the outbound pipeline ---
    ("GET", "/api/v1/outbound/sends"): P.OUTBOUND_READ,
    ("POST", "/api/v1/outbound/sends"): P.OUTBOUND_SEND,
    ("POST", "/api/v1/outbound/sends/batch"): P.OUTBOUND_SEND,
    ("GET", "/api/v1/outbound/sends/{send_id}"): P.OUTBOUND_READ,
    ("POST", "/api/v1/outbound/sends/{send_id}/cancel"): P.OUTBOUND_SEND,
    ("POST", "/api/v1/outbound/sends/{send_id}/resend"): P.OUTBOUND_MANAGE,
    ("GET", "/api/v1/outbound/templates"): P.OUTBOUND_READ,
    ("POST", "/api/v1/outbound/templates"): P.OUTBOUND_MANAGE,
    ("GET", "/api/v1/outbound/templates/{template_id}"): P.OUTBOUND_READ,
    ("POST", "/api/v1/outbound/templates/{template_id}/preview"): P.OUTBOUND_READ,
    ("GET", "/api/v1/outbound/policy"): P.OUTBOUND_READ,
    ("PATCH", "/api/v1/outbound/policy"): P.OUTBOUND_MANAGE,
    ("POST", "/api/v1/outbound/marketing/pause"): P.OUTBOUND_MANAGE,
    ("POST", "/api/v1/outbound/marketing/resume"): P.OUTBOUND_MANAGE,
    ("GET", "/api/v1/outbound/budgets"): P.OUTBOUND_READ,
    ("PUT", "/api/v1/outbound/budgets"): P.OUTBOUND_MANAGE,
    # --- end of the outbound pipeline ---
    # --- the trust ledger ---
    ("GET", "/api/v1/ledger/key"): P.LEDGER_READ,
    ("GET", "/api/v1/ledger/checkpoints"): P.LEDGER_READ,
    ("POST", "/api/v1/ledger/checkpoints"): P.LEDGER_MANAGE,
    ("GET", "/api/v1/ledger/checkpoints/latest"): P.LEDGER_READ,
    ("GET", "/api/v1/ledger/checkpoints/{size}"): P.LEDGER_READ,
    ("GET", "/api/v1/ledger/consistency"): P.LEDGER_READ,
    ("GET", "/api/v1/ledger/entries"): P.LEDGER_READ,
    ("GET", "/api/v1/ledger/entries/{index}"): P.LEDGER_READ,
    ("GET", "/api/v1/ledger/entries/{index}/receipt"): P.LEDGER_READ,
    ("POST", "/api/v1/ledger/receipts"): P.LEDGER_READ,
    ("GET", "/api/v1/ledger/entries/{index}/opening"): P.LEDGER_MANAGE,
    ("GET", "/api/v1/ledger/events/{event_id}/receipt"): P.LEDGER_READ,
    ("POST", "/api/v1/ledger/audit"): P.LEDGER_MANAGE,
    ("GET", "/api/v1/ledger/witness"): P.LEDGER_MANAGE,
    ("PUT", "/api/v1/ledger/witness"): P.LEDGER_MANAGE,
    # --- end of the trust ledger ---
}
# Valid JSON that no request schema accepts: refused by validation, after the role check.
PROBE = b'{"role_walk_probe": true}'


def required(method: str, path: str) -> Permission:
    assert (method, path) in ROUTE_PERMISSIONS, (
        f"add {method} {path} to ROUTE_PERMISSIONS with the permission it requires")
    return ROUTE_PERMISSIONS[(method, path)]


@pytest.fixture
async def keys(db: Database, tenant: Tenant) -> dict[Role, dict[str, str]]:
    return {role: {"Authorization": f"Bearer {await api_key_for(db, tenant, role)}"}
            for role in Role}


def test_the_table_names_only_routes_that_exist(app: FastAPI) -> None:
    assert set(ROUTE_PERMISSIONS) == set(api_routes(app))


async def test_a_role_without_the_permission_gets_403_and_changes_nothing(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, owned: OwnedObjects,
        keys: dict[Role, dict[str, str]]) -> None:
    before = await owned.snapshot(client, tenant)
    refused = 0
    for method, path in api_routes(app):
        permission = required(method, path)
        url = fill(path, owned.ids) + owned.query_for(method, path)
        body = sample_body(method, path, owned.ids)  # a request that would change A
        for role in Role:
            if allows(role, permission):
                continue
            response = await call(client, method, url, keys[role], body)
            assert_error(response, 403, "forbidden", (method, path, role))
            assert role.value in response.json()["error"]["message"]
            refused += 1
    assert refused >= 40
    assert await owned.snapshot(client, tenant) == before


async def test_a_role_with_the_permission_gets_past_the_check(
        app: FastAPI, client: httpx.AsyncClient, tenant: Tenant, owned: OwnedObjects,
        keys: dict[Role, dict[str, str]]) -> None:
    # Ids that never existed and a body no schema accepts: the request passes the role
    # check and then fails (404 or 422), so this walk changes nothing either.
    before = await owned.snapshot(client, tenant)
    nowhere = {name: never_existing(value) for name, value in owned.ids.items()}
    for method, path in api_routes(app):
        permission = required(method, path)
        url = fill(path, nowhere) + owned.query_for(method, path)
        body = PROBE if sample_body(method, path, owned.ids) is not None else None
        for role in Role:
            if not allows(role, permission):
                continue
            response = await call(client, method, url, keys[role], body)
            assert response.status_code not in (401, 403), (method, path, role, response.text)
            assert response.status_code < 500, (method, path, role, response.text)
            if body is not None:
                assert_error(response, 422, "validation_error", (method, path, role))
    assert await owned.snapshot(client, tenant) == before
