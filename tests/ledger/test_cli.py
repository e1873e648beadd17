"""`cxprism ledger verify` offline (a receipt and a consistency bundle, with only the
published key), and the receipt, key, checkpoint and export commands."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from sqlalchemy import update
from typer.testing import CliRunner

from cxprism.bus.models import RelayCursor
from cxprism.cli import app
from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.ledger.helpers import add_customers, get_json, relay_all

runner = CliRunner()


async def cli(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(runner.invoke, app, ["ledger", *args])
    return result.exit_code, result.output


async def test_verify_checks_a_receipt_offline_and_names_what_is_wrong(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path) -> None:
    await add_customers(client, tenant, 2)
    await relay_all(db)
    receipt = await get_json(client, tenant, "/entries/3/receipt")
    key = tmp_path / "key.txt"
    key.write_text((await get_json(client, tenant, "/key"))["verifier_key"])
    good = tmp_path / "receipt.json"
    good.write_text(json.dumps(receipt))
    code, output = await cli("verify", str(good), "--key", str(key))
    assert code == 0 and output.startswith("VERIFIED: entry 3 (consent.changed, "), output

    altered = dict(receipt, index=2)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(altered))
    code, output = await cli("verify", str(bad), "--key", key.read_text())
    assert code == 1 and "NOT VERIFIED" in output and "index" in output, output

    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    code, output = await cli("verify", str(garbage), "--key", str(key))
    assert (code, output.strip()) == (1, "NOT VERIFIED: the file is not JSON")
    code, output = await cli("verify", str(good), "--key", "nobody+00000000+AAAA")
    assert code == 2 and "verifier key" in output, output


async def test_verify_checks_a_consistency_bundle_offline(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path) -> None:
    await add_customers(client, tenant, 1)
    await relay_all(db)
    await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)
    await add_customers(client, tenant, 3, first=1)
    await relay_all(db)
    await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)
    bundle = await get_json(client, tenant, "/consistency?old=3&new=6")
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    key = (await get_json(client, tenant, "/key"))["verifier_key"]
    code, output = await cli("verify", str(path), "--key", key)
    assert code == 0 and "of 6 entries extends its checkpoint of 3" in output, output
    path.write_text(json.dumps({**bundle, "consistency_proof": bundle["consistency_proof"][::-1]}))
    code, output = await cli("verify", str(path), "--key", key)
    assert code == 1 and "does not extend" in output, output


async def test_receipt_key_checkpoint_and_export_commands(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, tmp_path: Path,
        cli_env: None) -> None:
    await add_customers(client, tenant, 1)
    await relay_all(db)
    code, note = await cli("checkpoint", "--workspace", tenant.slug)
    assert code == 0 and note.split("\n")[1] == "3", note
    code, key = await cli("key", "--workspace", tenant.slug)
    assert code == 0
    out = tmp_path / "r.json"
    code, _ = await cli("receipt", "1", "--workspace", tenant.slug, "-o", str(out))
    assert code == 0
    code, output = await cli("verify", str(out), "--key", key.strip())
    assert code == 0 and output.startswith("VERIFIED: entry 1 (api_key.created"), output
    exported = tmp_path / "witness.txt"
    code, _ = await cli("export", "--workspace", tenant.slug, "-o", str(exported))
    assert code == 0 and exported.read_text() == note
    code, output = await cli("receipt", "99", "--workspace", tenant.slug)
    assert code == 1 and "no entry 99" in output, output


async def test_events_relayed_again_are_not_appended_twice(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_customers(client, tenant, 3)
    await relay_all(db)
    for _ in range(5):  # the relay lost its place: every event is handed over again
        async with db.session() as session:
            await session.execute(update(RelayCursor).values(relayed_seq=0))
            await session.commit()
        await relay_all(db)
    entries = (await get_json(client, tenant, "/entries"))["data"]
    assert [e["index"] for e in entries] == list(range(5))
    assert len({e["event_id"] for e in entries}) == 5
