from __future__ import annotations

import httpx
from rich.console import Console

from cxprism.demo import seed_demo
from cxprism.kit.db import Database
from cxprism.workspaces.auth import check_password


async def test_demo_seeds_a_usable_workspace_and_reruns_safely(
        db: Database, client: httpx.AsyncClient) -> None:
    console = Console(quiet=True)
    first = await seed_demo(db, slug="demo", customers=12, console=console)
    headers = {"Authorization": f"Bearer {first.api_key}"}
    page = (await client.get("/api/v1/customers", headers=headers,
                             params={"limit": 50})).json()
    assert len(page["data"]) == 12
    assert all(c["traits"]["first_name"] for c in page["data"])
    users = (await client.get("/api/v1/users", headers=headers)).json()["data"]
    assert {u["role"] for u in users} == {"admin", "agent"}

    second = await seed_demo(db, slug="demo", customers=12, console=console)
    async with db.session() as session:
        assert await check_password(session, "demo", second.email, second.password)
        assert not await check_password(session, "demo", first.email, first.password)
    again = (await client.get("/api/v1/customers", params={"limit": 50}, headers={
        "Authorization": f"Bearer {second.api_key}"})).json()
    assert len(again["data"]) == 12


async def test_demo_customers_have_trails_on_their_timelines(
        db: Database, client: httpx.AsyncClient) -> None:
    from tests.tracking.helpers import drain

    info = await seed_demo(db, slug="demo", customers=5, console=Console(quiet=True))
    await drain(db)  # identity resolution runs as the tracking consumer
    headers = {"Authorization": f"Bearer {info.api_key}"}
    customers = (await client.get("/api/v1/customers", headers=headers)).json()["data"]
    for customer in customers:
        timeline = (await client.get(f"/api/v1/customers/{customer['id']}/timeline",
                                     headers=headers)).json()["data"]
        names = {item["event"]["name"] for item in timeline}
        assert "Home" in names and "Product Viewed" in names
        assert any(item["event"]["user_id"] is None for item in timeline)  # before login
    catalogue = (await client.get("/api/v1/event-names", headers=headers)).json()["data"]
    assert {"Product Viewed", "Home"} <= {entry["name"] for entry in catalogue}
    assert info.write_key.startswith("wk_")
