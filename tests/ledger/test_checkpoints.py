"""Checkpoints: signed periodically after appends and on demand, exported to a witness,
and checkable from their text with a plain Ed25519 implementation."""

from __future__ import annotations

import base64
import hashlib

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import select, update

from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.ledger.models import LedgerLog
from cxprism.ledger.tasks import sign_grown_logs
from cxprism.scheduler.models import Job
from cxprism.scheduler.registry import registry as jobs
from cxprism.scheduler.worker import Worker
from tests.fixtures.builders import Tenant
from tests.fixtures.live import serve_in_loop
from tests.ledger.helpers import add_customers, get_json, relay_all
from tests.webhooks.helpers import Receiver, Reply


async def _run_due_jobs(db: Database, kind: str) -> int:
    async with db.session() as session:
        await session.execute(update(Job).where(Job.kind == kind, Job.status == "queued")
                              .values(run_at=utcnow()))
        await session.commit()
    return await Worker(db, jobs, owner="ledger-tests", poll_seconds=0.01).run_once()


async def _jobs(db: Database, kind: str) -> list[Job]:
    async with db.session() as session:
        return list((await session.execute(select(Job).where(Job.kind == kind))).scalars())


async def test_the_periodic_signer_signs_each_grown_log_once(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    await add_customers(client, tenant, 2)
    await relay_all(db)
    assert set(await sign_grown_logs(db)) == {tenant.workspace_id, other_tenant.workspace_id}
    assert await sign_grown_logs(db) == []  # nothing new: nothing signed again
    assert (await get_json(client, tenant, "/checkpoints/latest"))["size"] == 4
    await add_customers(client, tenant, 2, first=2)
    await relay_all(db)
    assert await sign_grown_logs(db) == [tenant.workspace_id]
    assert (await get_json(client, tenant, "/checkpoints/latest"))["size"] == 6
    assert await _jobs(db, "ledger.export") == []  # no witness configured


async def test_the_periodic_signer_skips_a_rewritten_log_and_signs_the_others(
        db: Database, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant) -> None:
    await relay_all(db)
    await sign_grown_logs(db)
    await add_customers(client, tenant, 1)
    await add_customers(client, other_tenant, 1)
    await relay_all(db)
    async with db.session() as session:  # the tenant's signed history is rewritten
        log = await session.get(LedgerLog, tenant.workspace_id)
        assert log is not None and log.size == 3
        log.frontier = b"\x00" * 32 + log.frontier[32:]  # the first two leaves' subtree
        await session.commit()
    assert await sign_grown_logs(db) == [other_tenant.workspace_id]


async def test_the_published_key_verifies_the_note_from_its_text_alone(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await add_customers(client, tenant, 1)
    await relay_all(db)
    note = (await client.post("/api/v1/ledger/checkpoints", headers=tenant.headers)).json()["note"]
    verifier = (await get_json(client, tenant, "/key"))["verifier_key"]
    name, key_hash, encoded = verifier.split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 1 and len(raw) == 33  # the signed-note Ed25519 algorithm byte
    assert hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == key_hash
    text, _, signatures = note.partition("\n\n")
    origin, size, root = text.split("\n")
    assert (origin, int(size)) == (name, 3) and len(base64.b64decode(root)) == 32
    signer, signature = signatures.removeprefix("\u2014 ").strip().split(" ")
    assert signer == name
    blob = base64.b64decode(signature)
    assert blob[:4].hex() == key_hash
    Ed25519PublicKey.from_public_bytes(raw[1:]).verify(blob[4:], (text + "\n").encode())


async def test_each_checkpoint_is_exported_to_the_witness(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    witness = Receiver(script=[Reply(status=503)])  # down once, then up
    async with serve_in_loop(witness) as base:
        witness.base = base
        configured = await client.put("/api/v1/ledger/witness", headers=tenant.headers,
                                      json={"url": witness.url})
        assert configured.status_code == 200, configured.text
        await add_customers(client, tenant, 1)
        await relay_all(db)
        await sign_grown_logs(db)
        await _run_due_jobs(db, "ledger.export")  # the witness answers 503: retried
        [job] = await _jobs(db, "ledger.export")
        assert job.status == "queued" and job.attempts == 1
        await _run_due_jobs(db, "ledger.export")
    latest = await get_json(client, tenant, "/checkpoints/latest")
    assert [r.body.decode() for r in witness.received] == [latest["note"]] * 2
    assert witness.received[0].headers["content-type"].startswith("text/plain")
    assert latest["exported_at"] is not None


async def test_a_witness_url_on_a_private_address_is_refused(
        client: httpx.AsyncClient, tenant: Tenant) -> None:
    for url in ("http://10.0.0.7/witness", "http://169.254.169.254/latest", "ftp://w.example"):
        refused = await client.put("/api/v1/ledger/witness", headers=tenant.headers,
                                   json={"url": url})
        assert refused.status_code == 422, (url, refused.text)
    assert (await client.get("/api/v1/ledger/witness", headers=tenant.headers)).json() == {
        "url": None}
