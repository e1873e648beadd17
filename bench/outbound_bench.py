"""The outbound pipeline end to end on PostgreSQL, against the provider's own capacity.

    .venv/bin/python bench/outbound_bench.py [--messages 10000] [--workers 2] [--batch 400]
                                             [--submitters 2] [--separate]

A fresh database (``cxprism_bench_outbound`` on CXPRISM_BENCH_POSTGRES_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) gets a workspace with a Twilio SMS
channel pointed at ``bench/fake_provider.py`` (its own process), ``--people`` customers
with a phone number, a first name and SMS marketing consent, and an SMS template.

1. baseline: ``--messages`` POSTs of the same form to the same fake provider from plain
   httpx loops in ``--workers`` processes, with the delivery job's own client pool and
   64 in flight each, as the job allows, and no database: what sending alone costs;
2. pipeline: ``--workers`` ``cxprism worker`` processes start and idle; then
   ``--submitters`` processes (1: this one's helper) submit ``--messages`` marketing sends
   through ``SendService.submit_many`` (customer,
   consent, caps, template render, a durable delivery job each), 100 per call,
   while the workers deliver. The clock runs from the first submit until every send is
   ``sent``. The provider must have seen each idempotency key exactly once.

Prints a table and writes bench/results/outbound-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from pg_common import fresh_database, plain_dsn

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "cxprism_bench_outbound"
ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "0123456789abcdef" * 2
SMS_NUMBER = "+14155550100"
IN_FLIGHT = 64
TARGET = 1_000
HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_env(url: str, batch: int) -> dict[str, str]:
    return {"CXPRISM_DATABASE_URL": url, "CXPRISM_OUTBOUND_HTTP_ALLOW": "127.0.0.1/32",
            "CXPRISM_SECRET_KEY": "bench-secret-key-not-for-production",
            "CXPRISM_SMTP_ENABLED": "false", "CXPRISM_SCHEDULER_POLL_SECONDS": "0.02",
            "CXPRISM_RELAY_POLL_SECONDS": "0.05", "CXPRISM_WORKER_BATCH_SIZE": str(batch)}


async def setup(people: int, port: int) -> dict[str, Any]:
    from cxprism.channels import builtin  # noqa: F401 - registers the connectors
    from cxprism.channels.schemas import ChannelCreate
    from cxprism.channels.service import ChannelService
    from cxprism.customers.consent import Decision
    from cxprism.customers.identities import Identity, IdentityKind
    from cxprism.customers.schemas import Channel, ConsentStatus, Purpose
    from cxprism.customers.service import CustomerService
    from cxprism.kit.db import Database
    from cxprism.outbound.schemas import TemplateCreate
    from cxprism.outbound.templates import TemplateService
    from cxprism.workspaces import schemas
    from cxprism.workspaces.service import create_workspace

    db = Database(os.environ["CXPRISM_DATABASE_URL"])
    try:
        async with db.session() as session:
            workspace = await create_workspace(
                session, schemas.WorkspaceCreate(slug="bench", name="Bench"))
            await ChannelService(session, workspace.id).create(ChannelCreate(
                kind="twilio_sms", name="SMS", config={
                    "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                    "phone_number": SMS_NUMBER, "api_base": f"http://127.0.0.1:{port}"}))
            await TemplateService(session, workspace.id).create(TemplateCreate(
                name="offer", medium=Channel.SMS,
                text="Hi {{ customer.first_name }}, {{ event.offer }} - reply STOP to opt out"))
            customers = CustomerService(session, workspace.id)
            ids = []
            for number in range(people):
                person = await customers.identify(
                    [Identity(IdentityKind.PHONE, "", f"+1415{5550000 + number:07d}")],
                    traits={"first_name": f"Person {number}"})
                await customers.set_consent(person.id, Decision(
                    Channel.SMS, Purpose.MARKETING, ConsentStatus.GRANTED, "bench"))
                ids.append(str(person.id))
            await session.commit()
            return {"workspace_id": str(workspace.id), "customers": ids}
    finally:
        await db.dispose()


async def submit_all(workspace_id: str, customers: list[str], messages: int) -> float:
    return await submit_range(workspace_id, customers, 0, messages)


async def submit_range(workspace_id: str, customers: list[str], start: int,
                       messages: int) -> float:
    """Submit sends ``start`` .. ``start + messages``, 100 per transaction; seconds."""
    import uuid

    from cxprism.customers.schemas import Purpose
    from cxprism.kit.db import Database
    from cxprism.outbound.schemas import SendCreate
    from cxprism.outbound.service import SendService

    db = Database(os.environ["CXPRISM_DATABASE_URL"])
    started = time.perf_counter()
    try:
        for first in range(start, start + messages, 100):
            async with db.session() as session:
                service = SendService(session, uuid.UUID(workspace_id), "bench")
                taken = await service.submit_many([SendCreate(
                    customer_id=uuid.UUID(customers[number % len(customers)]),
                    cause=f"offer:{number}", purpose=Purpose.MARKETING, channel="sms",
                    template="offer", event={"offer": f"20% off, code B{number}"})
                    for number in range(first, min(first + 100, start + messages))])
                assert all(t.error is None for t in taken), taken
                await session.commit()
    finally:
        await db.dispose()
    return time.perf_counter() - started


def submit_process(workspace_id: str, customers: list[str], first: int, count: int,
                   out: Any) -> None:
    out.put(asyncio.run(submit_range(workspace_id, customers, first, count)))


def submit_parallel(ids: dict[str, Any], messages: int, processes: int) -> float:
    """Submit from ``processes`` processes at once (as several API processes would)."""
    queue: Any = mp.Queue()
    share = messages // processes
    procs = [mp.Process(target=submit_process, args=(
        ids["workspace_id"], ids["customers"], i * share, share, queue))
        for i in range(processes)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return time.perf_counter() - started


async def count_sent(url: str) -> int:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM outbound_sends WHERE status = 'sent'"))
    finally:
        await conn.close()


async def provider_stats(port: int) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        return dict((await client.get(f"http://127.0.0.1:{port}/stats")).json())


def baseline_process(port: int, count: int, offset: int, out: Any) -> None:
    from cxprism.outbound.tasks import http_clients

    async def run() -> None:
        url = f"http://127.0.0.1:{port}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
        semaphore = asyncio.Semaphore(IN_FLIGHT)
        clients = http_clients()  # the delivery job's own client pool
        try:
            async def post(number: int) -> None:
                async with semaphore:
                    client = clients[number % len(clients)]
                    response = await client.post(url, auth=(ACCOUNT_SID, AUTH_TOKEN), data={
                        "To": f"+1415{5550000 + number:07d}", "From": SMS_NUMBER,
                        "Body": f"Hi Person {number}, 20% off - reply STOP to opt out"},
                        headers={"I-Twilio-Idempotency-Token": f"baseline-{number}"})
                    assert response.status_code == 201
            await asyncio.gather(*(post(offset + i) for i in range(count)))
        finally:
            for client in clients:
                await client.aclose()
    asyncio.run(run())
    out.put(True)


def baseline(port: int, messages: int, workers: int) -> float:
    queue: Any = mp.Queue()
    share = messages // workers
    procs = [mp.Process(target=baseline_process, args=(port, share, i * share, queue))
             for i in range(workers)]
    started = time.perf_counter()
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join()
    return share * workers / (time.perf_counter() - started)


def start_workers(workers: int) -> list[subprocess.Popen[bytes]]:
    cli = Path(sys.executable).parent / "cxprism"
    procs = [subprocess.Popen([str(cli), "worker"], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL) for _ in range(workers)]
    for proc in procs:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert b"worker running" in line, line
    return procs


async def pipeline(args: argparse.Namespace, ids: dict[str, Any], port: int
                   ) -> dict[str, Any]:
    url = os.environ["CXPRISM_DATABASE_URL"]
    if args.separate:  # everything submitted first: the delivery side alone is timed
        submit_seconds = await submit_all(ids["workspace_id"], ids["customers"], args.messages)
    procs = start_workers(args.workers)
    try:
        started = time.perf_counter()
        if not args.separate:
            submit_seconds = await asyncio.to_thread(submit_parallel, ids, args.messages,
                                                     args.submitters)
        while await count_sent(url) < args.messages:
            if time.perf_counter() - started > 600:
                raise RuntimeError("the pipeline did not finish within 10 minutes")
            await asyncio.sleep(0.05)
        elapsed = time.perf_counter() - started
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait()
    stats = await provider_stats(port)
    return {"seconds": elapsed, "messages_per_s": args.messages / elapsed,
            "submit_per_s": args.messages / submit_seconds, "provider": stats}


async def main(args: argparse.Namespace) -> dict[str, Any]:
    server = os.environ.get("CXPRISM_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    url = await fresh_database(server, BENCH_DB)
    os.environ.update(bench_env(url, args.batch))
    from cxprism import migrate

    await asyncio.to_thread(migrate.upgrade, url)  # alembic runs its own event loop
    port = free_port()
    provider = subprocess.Popen(  # noqa: ASYNC220 - started once, before the clock
        [sys.executable, str(HERE / "fake_provider.py"), str(port)], stdout=subprocess.PIPE)
    try:
        assert provider.stdout is not None and provider.stdout.readline().strip() == b"ready"
        ids = await setup(args.people, port)
        base = baseline(port, args.messages, args.workers)
        ours = await pipeline(args, ids, port)
    finally:
        provider.terminate()
        provider.wait()
    sent = ours["provider"]
    assert sent["duplicates"] == 0, sent
    return {"messages": args.messages, "workers": args.workers, "batch": args.batch,
            "baseline_posts_per_s": base, **ours, "ratio": ours["messages_per_s"] / base,
            "target_messages_per_s": TARGET}


def report(result: dict[str, Any]) -> None:
    print(f"{'measure':<44}{'value':>12}")
    print(f"{'pipeline end to end, messages/s':<44}{result['messages_per_s']:>12,.0f}")
    print(f"{'  of which submit alone, messages/s':<44}{result['submit_per_s']:>12,.0f}")
    print(f"{'baseline: plain httpx POSTs/s':<44}{result['baseline_posts_per_s']:>12,.0f}")
    print(f"{'ratio':<44}{result['ratio']:>12.2f}")
    print(f"{'target (messages/s)':<44}{TARGET:>12,}")
    print(f"provider: {result['provider']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=400,
                        help="CXPRISM_WORKER_BATCH_SIZE of the workers")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--submitters", type=int, default=2,
                        help="processes submitting at once (load generators)")
    parser.add_argument("--separate", action="store_true",
                        help="submit everything first, then time delivery alone")
    arguments = parser.parse_args()
    outcome = asyncio.run(main(arguments))
    report(outcome)
    RESULTS.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"outbound-{stamp}.json").write_text(json.dumps(outcome, indent=2))
