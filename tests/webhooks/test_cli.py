"""``cxprism webhooks``, run for real against the test database."""

from __future__ import annotations

import asyncio
import re

from typer.testing import CliRunner

from cxprism.cli import app
from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.webhooks.helpers import fan_out, record_event

runner = CliRunner()


def test_create_list_deliveries_and_redeliver(cli_env: None, database_url: str,
                                              tenant: Tenant) -> None:
    slug = ["--workspace", tenant.slug]
    created = runner.invoke(app, ["webhooks", "create", "--url", "https://hooks.example.com/x",
                                  "-e", "customer.*", "-e", "message.received", *slug])
    assert created.exit_code == 0, created.output
    assert re.search(r"whsec_\S{40,}", created.output)
    endpoint_id = re.search(r"created endpoint (\S+)", created.output).group(1)  # type: ignore[union-attr]
    listed = runner.invoke(app, ["webhooks", "list", *slug])
    assert endpoint_id in listed.output and "whsec_" not in listed.output

    async def an_event() -> None:
        database = Database(database_url)  # this test's own loop, not the fixtures'
        await record_event(database, tenant.workspace_id, "customer.created")
        await fan_out(database)
        await database.dispose()

    asyncio.run(an_event())
    shown = runner.invoke(app, ["webhooks", "deliveries", endpoint_id, "--status", "pending",
                                *slug])
    assert shown.exit_code == 0 and "customer.created" in shown.output, shown.output
    delivery_id = re.search(r"[0-9a-f]{8}-[0-9a-f-]{27}", shown.output).group(0)  # type: ignore[union-attr]
    again = runner.invoke(app, ["webhooks", "redeliver", delivery_id, *slug])
    assert again.exit_code == 0 and "queued again" in again.output, again.output


def test_mistakes_are_one_clear_line(cli_env: None, tenant: Tenant) -> None:
    slug = ["--workspace", tenant.slug]
    private = runner.invoke(app, ["webhooks", "create", "--url", "http://10.0.0.1/", "-e", "*",
                                  *slug])
    assert private.exit_code == 1 and "private address" in private.output
    unknown = runner.invoke(app, ["webhooks", "create", "--url", "https://a.example.com/",
                                  "-e", "custmer.*", *slug])
    assert unknown.exit_code == 1 and "custmer.*" in unknown.output
    missing = runner.invoke(app, ["webhooks", "redeliver", "0190a000-0000-7000-8000-000000000000",
                                  *slug])
    assert missing.exit_code == 1 and "not found" in missing.output
    assert "Traceback" not in private.output + unknown.output + missing.output
