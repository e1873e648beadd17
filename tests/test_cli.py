"""The operator CLI, run for real against the test database."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cxprism.cli import app
from cxprism.config import get_settings
from cxprism.kit.db import Database
from cxprism.scheduler.service import enqueue
from tests.fixtures.builders import Tenant

runner = CliRunner()


def test_db_upgrade_creates_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CXPRISM_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    get_settings.cache_clear()
    result = runner.invoke(app, ["db", "upgrade"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert (tmp_path / "new.db").stat().st_size > 0


def test_users_and_api_keys_are_created_from_the_cli(cli_env: None, tenant: Tenant) -> None:
    created = runner.invoke(app, ["users", "create", "--workspace", "acme", "--email",
                                  "Ops@Acme.Example", "--name", "Ops", "--role", "supervisor",
                                  "--password", "a long enough password"])
    assert created.exit_code == 0, created.output
    assert "ops@acme.example (supervisor)" in created.output
    key = runner.invoke(app, ["api-keys", "create", "--workspace", "acme", "--name", "etl",
                              "--role", "analyst"])
    assert key.exit_code == 0, key.output
    assert re.search(r"cxp_[0-9a-f]{12}_\S+", key.output)


def test_cli_errors_are_one_clear_line(cli_env: None, tenant: Tenant) -> None:
    missing = runner.invoke(app, ["api-keys", "create", "--workspace", "nope", "--name", "x"])
    assert missing.exit_code == 1
    assert "No workspace with slug 'nope'" in missing.output
    weak = runner.invoke(app, ["users", "create", "--workspace", "acme", "--email", "a@b.example",
                               "--name", "A", "--password", "short"])
    assert weak.exit_code == 1
    assert "password" in weak.output
    assert "Traceback" not in weak.output


def test_jobs_list_retry_and_cancel(cli_env: None, database_url: str, tenant: Tenant) -> None:
    async def add() -> int | None:
        database = Database(database_url)  # this test's own loop, not the fixtures'
        async with database.session() as session:
            job_id = await enqueue(session, "demo.thing", {"n": 1},
                                   workspace_id=tenant.workspace_id)
            await session.commit()
        await database.dispose()
        return job_id

    job_id = asyncio.run(add())
    listed = runner.invoke(app, ["jobs", "list", "--status", "queued"])
    assert listed.exit_code == 0, listed.output
    assert "demo.thing" in listed.output
    cancelled = runner.invoke(app, ["jobs", "cancel", str(job_id)])
    assert "status is now cancelled" in cancelled.output
    retried = runner.invoke(app, ["jobs", "retry", str(job_id)])
    assert "status is now queued" in retried.output
    assert runner.invoke(app, ["jobs", "retry", "999999"]).exit_code == 1


def test_outbound_templates_budgets_and_the_kill_switch(cli_env: None, tenant: Tenant,
                                                          tmp_path: Path) -> None:
    body = tmp_path / "otp.txt"
    body.write_text("Your code is {{ data.code }}", encoding="utf-8")
    slug = ["--workspace", tenant.slug]
    added = runner.invoke(app, ["outbound", "template", "otp", "sms", str(body), *slug])
    assert added.exit_code == 0 and "version 1" in added.output, added.output
    again = runner.invoke(app, ["outbound", "template", "otp", "sms", str(body), *slug])
    assert "version 2" in again.output
    body.write_text("{% if %}", encoding="utf-8")
    broken = runner.invoke(app, ["outbound", "template", "otp", "sms", str(body), *slug])
    assert broken.exit_code == 1 and "does not compile" in broken.output
    budget = runner.invoke(app, ["outbound", "budget", "sms", "500", *slug])
    assert budget.exit_code == 0 and "at most 500 sends a day" in budget.output
    paused = runner.invoke(app, ["outbound", "pause", "wrong price", *slug])
    assert paused.exit_code == 0 and "paused" in paused.output
    resumed = runner.invoke(app, ["outbound", "resume", *slug])
    assert "0 held send(s) released" in resumed.output
    listed = runner.invoke(app, ["outbound", "sends", *slug])
    assert listed.exit_code == 0, listed.output
    missing = runner.invoke(app, ["outbound", "show", "0190a000-0000-7000-8000-000000000000",
                                  *slug])
    assert missing.exit_code == 1 and "Send not found" in missing.output


def test_each_process_of_a_multi_process_server_tunes_its_garbage_collector(
        tmp_path: Path) -> None:
    """uvicorn starts each of ``serve --processes N``'s processes afresh: the app factory
    they run must tune the collector itself (they once ran at the defaults)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "CXPRISM_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"}
    probe = ("import gc; from cxprism.cli import server_app_of_process; "
             "before = gc.get_threshold(); server_app_of_process(); "
             "print(before, gc.get_threshold(), gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True,
                         text=True, timeout=60, check=True).stdout.split("\n")[0]
    assert out.endswith("(50000, 20, 20) True"), out
    assert not out.startswith("(50000, 20, 20)"), out  # it was the factory that tuned it
