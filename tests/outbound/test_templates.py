"""Templates: versions per medium and locale, a sandbox, strict variables, sanitised HTML,
previews with a sample customer, WhatsApp's approved name and parameters."""

from __future__ import annotations

from typing import Any

import httpx

from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.outbound.helpers import (
    RecordingConnector,
    connect,
    customer,
    get_send,
    installed,
    run_jobs,
    sent_ok,
)


async def _template(client: httpx.AsyncClient, tenant: Tenant, **fields: Any) -> httpx.Response:
    body = {"name": "welcome", "medium": "email", "locale": "en",
            "subject": "Welcome, {{ customer.first_name }}",
            "text": "Hello {{ customer.first_name }}, your plan is {{ event.plan }}.", **fields}
    return await client.post("/api/v1/outbound/templates", headers=tenant.headers, json=body)


async def test_versions_are_new_rows_and_the_latest_is_sent(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    first = await _template(client, tenant)
    second = await _template(client, tenant,
                             text="Hi {{ customer.first_name }}! ({{ event.plan }})")
    assert (first.status_code, second.status_code) == (201, 201)
    assert (first.json()["version"], second.json()["version"]) == (1, 2)
    assert second.json()["variables"] == ["customer", "event"]
    ann = await customer(client, tenant, email="ann@example.com", traits={"first_name": "Ann"})
    out = await sent_ok(client, tenant, ann, "signup:ann", template="welcome",
                        event={"plan": "Pro"}, content=None)
    assert (out["template_version"], out["subject"], out["text"]) == (
        2, "Welcome, Ann", "Hi Ann! (Pro)")
    pinned = await sent_ok(client, tenant, ann, "signup:ann:v1", template="welcome",
                           template_version=1, event={"plan": "Pro"}, content=None)
    assert pinned["text"] == "Hello Ann, your plan is Pro."
    await run_jobs(db)
    assert [m.subject for m in provider.sent] == ["Welcome, Ann", "Welcome, Ann"]


async def test_a_missing_variable_is_an_error_at_preview_and_at_send_never_a_blank(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    template = (await _template(client, tenant)).json()
    bo = await customer(client, tenant, email="bo@example.com")  # no first_name trait
    preview = await client.post(f"/api/v1/outbound/templates/{template['id']}/preview",
                                headers=tenant.headers,
                                json={"customer_id": bo, "event": {"plan": "Pro"}})
    assert preview.status_code == 422
    assert preview.json()["error"]["code"] == "template_error"
    assert "first_name" in preview.json()["error"]["message"]
    refused = await client.post("/api/v1/outbound/sends", headers=tenant.headers, json={
        "customer_id": bo, "cause": "signup:bo", "purpose": "transactional",
        "channel": "email", "template": "welcome", "event": {"plan": "Pro"}})
    assert refused.status_code == 422 and "first_name" in refused.text
    listed = await client.get("/api/v1/outbound/sends", headers=tenant.headers)
    assert listed.json()["data"] == []  # nothing half-made
    ok = await client.post(f"/api/v1/outbound/templates/{template['id']}/preview",
                           headers=tenant.headers, json={
                               "event": {"plan": "Pro"},
                               "data": {}, "customer_id": await customer(
                                   client, tenant, email="cy@example.com",
                                   traits={"first_name": "Cy"})})
    assert ok.status_code == 200 and ok.json()["subject"] == "Welcome, Cy"
    await run_jobs(db)
    assert provider.sent == []


async def test_the_sandbox_refuses_reaching_python_internals(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    installed(RecordingConnector)
    hostile = await _template(client, tenant, name="hostile", subject="Hi",
                              text="{{ ''.__class__.__mro__[1].__subclasses__() }}")
    assert hostile.status_code == 201  # it compiles; it cannot run
    preview = await client.post(f"/api/v1/outbound/templates/{hostile.json()['id']}/preview",
                                headers=tenant.headers, json={})
    assert preview.status_code == 422
    assert "__class__" in preview.json()["error"]["message"] or "unsafe" in preview.text
    loop = await _template(client, tenant, name="loop", subject="Hi",
                           text="{% for i in range(10**9) %}x{% endfor %}")
    burn = await client.post(f"/api/v1/outbound/templates/{loop.json()['id']}/preview",
                             headers=tenant.headers, json={})
    assert burn.status_code == 422 and "range" in burn.text
    broken = await _template(client, tenant, name="broken", text="{% if %}")
    assert broken.status_code == 422 and "line 1" in broken.json()["error"]["message"]


async def test_html_is_escaped_while_rendering_and_sanitised_after(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    installed(RecordingConnector)
    template = (await _template(
        client, tenant, name="news",
        html="<p>Hi {{ customer.first_name }}</p><script>alert(1)</script>"
             "<a href=\"javascript:alert(2)\">x</a>")).json()
    eve = await customer(client, tenant, email="eve@example.com",
                         traits={"first_name": "<img src=x onerror=alert(3)>"})
    preview = await client.post(f"/api/v1/outbound/templates/{template['id']}/preview",
                                headers=tenant.headers,
                                json={"customer_id": eve, "event": {"plan": "x"}})
    html = preview.json()["html"]
    assert "<script" not in html and "javascript:" not in html and "<img" not in html
    assert "&lt;img" in html


async def test_locale_falls_back_from_region_to_language_to_the_default(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    await _template(client, tenant, locale="en", subject="Hi", text="Hello")
    await _template(client, tenant, locale="pt", subject="Oi", text="Olá")
    ana = await customer(client, tenant, email="ana@example.com", locale="pt-BR")
    ben = await customer(client, tenant, email="ben@example.com", locale="de-DE")
    out_pt = await sent_ok(client, tenant, ana, "hello:ana", template="welcome", content=None)
    out_de = await sent_ok(client, tenant, ben, "hello:ben", template="welcome", content=None)
    assert (out_pt["text"], out_pt["locale"]) == ("Olá", "pt")
    assert (out_de["text"], out_de["locale"]) == ("Hello", "en")


async def test_whatsapp_templates_carry_the_approved_name_and_rendered_parameters(
        client: httpx.AsyncClient, db: Database, tenant: Tenant) -> None:
    provider = installed(RecordingConnector)
    await connect(client, tenant, provider.kind)
    created = await client.post("/api/v1/outbound/templates", headers=tenant.headers, json={
        "name": "shipped", "medium": "email", "locale": "en", "subject": "Shipped",
        "text": "Order {{ event.order }} shipped",
        "provider_template": {"name": "order_shipped", "language": "en_US",
                              "parameters": ["{{ customer.first_name }}", "{{ event.order }}"]}})
    assert created.status_code == 201, created.text
    flo = await customer(client, tenant, email="flo@example.com", traits={"first_name": "Flo"})
    out = await sent_ok(client, tenant, flo, "order:7", template="shipped",
                        event={"order": "A-7"}, content=None)
    assert out["provider_template"] == {"name": "order_shipped", "language": "en_US",
                                        "parameters": ["Flo", "A-7"]}
    await run_jobs(db)
    [message] = provider.sent
    assert message.template is not None
    assert (message.template.name, message.template.parameters) == ("order_shipped",
                                                                    ["Flo", "A-7"])
    assert (await get_send(client, tenant, out["id"]))["status"] == "sent"
