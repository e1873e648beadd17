"""Input a database cannot store (or JSON cannot carry back) is a 422 that writes nothing.

NaN and 1e400 are accepted by Python's JSON parser, PostgreSQL refuses NUL and lone
surrogates, deep documents cannot be serialised back, and calendar-edge times overflow
when moved to UTC: each used to reach the database and end as a 500 (or, on SQLite, be
stored and break every later trait search of the workspace).
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from cxprism.customers.models import Customer, CustomerIdentity
from cxprism.kit.db import Database
from tests.customers.helpers import BASE, count, create, email
from tests.fixtures.builders import Tenant

IDENTITY = '{"kind":"email","value":"raw@example.com"}'


def _nested(levels: int) -> str:
    return "[" * levels + "]" * levels


@pytest.mark.parametrize(("traits", "complaint"), [
    ('{"x": NaN}', "finite"),
    ('{"x": -Infinity}', "finite"),
    ('{"x": 1e400}', "finite"),
    ('{"x": {"y": [1, NaN]}}', "finite"),
    ('{"x": "\\ud800"}', "surrogate"),
    ('{"x": {"k\\u0000": 1}}', "NUL"),
    ('{"x": ["ok", "a\\u0000b"]}', "NUL"),
    ('{"x": "bell\\u0007"}', "control"),
    (f'{{"x": {_nested(900)}}}', "deeper than 32"),
    (f'{{"x": {_nested(32)}}}', "deeper than 32"),
])
async def test_unstorable_traits_are_refused_and_nothing_is_written(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, traits: str,
        complaint: str) -> None:
    body = f'{{"identities":[{IDENTITY}],"traits":{traits}}}'
    response = await client.post(BASE, content=body.encode(),
                                 headers={**tenant.headers, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert complaint in response.json()["error"]["message"]
    assert await count(db, Customer, tenant.workspace_id) == 0
    assert await count(db, CustomerIdentity, tenant.workspace_id) == 0


async def test_traits_nested_within_the_limit_and_ordinary_text_are_kept(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    nested: Any = []
    for _ in range(30):  # the traits object and 31 lists: 32 levels, the limit
        nested = [nested]
    traits = {"deep": nested, "note": "tab\tand\nnewline", "big": 2**70, "pi": 3.14}
    body = await create(client, tenant.headers, email("kept@example.com"), traits=traits)
    assert body["traits"] == traits


async def test_a_patch_with_a_non_finite_trait_changes_nothing(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer = await create(client, tenant.headers, email("p@example.com"), traits={"x": 1})
    response = await client.patch(
        f"{BASE}/{customer['id']}", content=b'{"traits": {"x": NaN, "y": 2}}',
        headers={**tenant.headers, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    stored = (await client.get(f"{BASE}/{customer['id']}", headers=tenant.headers)).json()
    assert stored["traits"] == {"x": 1}
    search = await client.get(BASE, headers=tenant.headers, params={"trait": "x:1"})
    assert search.status_code == 200 and len(search.json()["data"]) == 1


@pytest.mark.parametrize("value", ["a\x00b@example.com", "a\x01b@example.com",
                                   "\ud800@example.com", "ab\x00cd"])
async def test_identities_with_nul_control_or_surrogates_are_refused(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, value: str) -> None:
    kind = "email" if "@" in value else "external_id"
    body = json.dumps({"identities": [{"kind": kind, "value": value}]})  # \u escapes
    response = await client.post(BASE, content=body.encode(),
                                 headers={**tenant.headers, "content-type": "application/json"})
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    assert "control characters" in message or "unicode" in message
    assert await count(db, Customer, tenant.workspace_id) == 0


@pytest.mark.parametrize(("path", "params", "field"), [
    ("", {"identity_kind": "email", "identity_value": "a\x00@example.com"}, "identity_value"),
    ("", {"identity_kind": "external_id", "identity_value": "ab\x00", "match": "prefix"},
     "identity_value"),
    ("", {"trait": "plan:\x00"}, "trait"),
    ("/lookup", {"kind": "email", "value": "a\x00b@example.com"}, "value"),
    ("", {"created_after": "0001-01-01T00:00:00+05:00"}, "created_after"),
    ("", {"created_before": "9999-12-31T23:00:00-05:00"}, "created_before"),
])
async def test_unstorable_search_parameters_are_a_clear_422(
        client: httpx.AsyncClient, tenant: Tenant, path: str, params: dict[str, str],
        field: str) -> None:
    response = await client.get(BASE + path, headers=tenant.headers, params=params)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]["field"] == field
    assert "NUL" in error["message"] or "year must be between" in error["message"]


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00"])
async def test_consent_at_the_edge_of_the_calendar_is_refused(
        client: httpx.AsyncClient, tenant: Tenant, moment: str) -> None:
    customer = await create(client, tenant.headers, email("c@example.com"))
    response = await client.post(f"{BASE}/{customer['id']}/consent", headers=tenant.headers, json={
        "channel": "email", "purpose": "marketing", "status": "granted", "source": "web",
        "occurred_at": moment})
    assert response.status_code == 422, response.text
    assert "year must be between" in response.json()["error"]["message"]
    listed = await client.get(f"{BASE}/{customer['id']}/consent", headers=tenant.headers)
    assert listed.json()["data"] == []
