"""Webhook delivery throughput on PostgreSQL, against a plain httpx loop to the same receiver.

    .venv/bin/python bench/webhooks_bench.py [--events 5000] [--endpoints 4] [--workers 2]
                                             [--batch 100]

A fresh database (``cxprism_bench_webhooks`` on CXPRISM_BENCH_POSTGRES_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) gets a workspace with
``--endpoints`` webhook endpoints, all subscribed to ``customer.*`` and pointing at one
receiver: this script with ``--receiver PORT`` in its own process, a minimal asyncio
HTTP/1.1 server (keep-alive, 200 with an empty body) that counts requests and keeps a
sample of them. The receiver is on 127.0.0.1, which the SSRF guard refuses, so the bench
sets CXPRISM_OUTBOUND_HTTP_ALLOW=127.0.0.1/32 (the tests' allowlist) for every process.

1. fan-out: ``--events`` customer.updated events are recorded, then the outbox relay runs
   in this process with the production consumers, the webhooks fan-out among them:
   events/s and deliveries made/s (a delivery row and a job per endpoint and event);
2. delivery: ``--workers`` processes, each one scheduler ``Worker(batch_size=--batch)`` with
   the production job registry, warm up on an empty queue, get the start signal and
   exit when they claim nothing more (as scheduler_bench.py does); the clock runs from the
   signal until the last has exited. Every delivery must be ``succeeded``, the receiver
   must have counted each webhook-id once, and the sampled requests must verify with
   ``standardwebhooks.Webhook(secret).verify``;
3. baseline: the same number of POSTs (same body size) from a plain ``httpx.AsyncClient``
   loop in as many processes, with the same number in flight per process as the
   delivery job allows, to the same receiver, with no database at all.

Mind ``sniffio``: httpcore imports it on every request, and when it is not installed each
import fails after a search of sys.path, about a quarter of a request's CPU; the report
says which case was measured (``PYTHONPATH`` holding a ``sitecustomize.py`` with
``sys.modules.setdefault("sniffio", None)`` measures the installed case).

Prints a table and writes bench/results/webhooks-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import multiprocessing as mp
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from competitors import wait_for
from pg_common import fresh_database, plain_dsn

DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "cxprism_bench_webhooks"
RESULTS = Path(__file__).resolve().parent / "results"
HOST = "127.0.0.1"
SAMPLE_EVERY = 997  # keep the first requests and every 997th after for verification
TARGET = 1_000
os.environ.update(CXPRISM_OUTBOUND_HTTP_ALLOW=f"{HOST}/32",
                  CXPRISM_SECRET_KEY="webhooks-bench-secret", CXPRISM_LOG_LEVEL="warning")


# --- the receiver (its own process) --------------------------------------------------------

class Receiver(asyncio.Protocol):
    # One receiver per process, one protocol object per connection: the class keeps the tally.
    count = 0
    ids: set[str] = set()
    samples: list[dict[str, Any]] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            headers = {k.lower(): v for k, v in headers.items()}
            total = end + 4 + int(headers.get("content-length", "0"))
            if len(self.buffer) < total:
                return
            body, self.buffer = self.buffer[end + 4:total], self.buffer[total:]
            self.transport.write(self.answer(lines[0], headers, body))

    def answer(self, request_line: str, headers: dict[str, str], body: bytes) -> bytes:
        if request_line.startswith("GET /stats"):
            stats = json.dumps({"count": Receiver.count, "unique_ids": len(Receiver.ids),
                                "samples": Receiver.samples}).encode()
            return (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                    + str(len(stats)).encode() + b"\r\n\r\n" + stats)
        if request_line.startswith("GET /reset"):
            Receiver.count, Receiver.ids, Receiver.samples = 0, set(), []
        else:
            Receiver.count += 1
            if "webhook-id" in headers:
                Receiver.ids.add(headers["webhook-id"])
            if Receiver.count <= 20 or Receiver.count % SAMPLE_EVERY == 0:
                Receiver.samples.append({"headers": headers, "body": body.decode()})
        return b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


async def serve_receiver(port: int) -> None:
    server = await asyncio.get_running_loop().create_server(Receiver, HOST, port, backlog=1024)
    async with server:
        await server.serve_forever()


async def receiver_stats(base: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base) as client:
        stats: dict[str, Any] = (await client.get("/stats")).json()
        return stats


async def reset_receiver(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        await client.get("/reset")


# --- set-up and fan-out (this process) -----------------------------------------------------

async def setup(url: str, base: str, endpoints: int) -> tuple[Any, list[str]]:
    from cxprism.kit.db import Database
    from cxprism.webhooks.schemas import EndpointCreate
    from cxprism.webhooks.service import WebhookService
    from cxprism.workspaces import schemas
    from cxprism.workspaces.service import create_workspace

    db = Database(url)
    async with db.session() as session:
        workspace = await create_workspace(
            session, schemas.WorkspaceCreate(slug="bench", name="Bench"))
        service = WebhookService(session, workspace.id)
        secrets = [(await service.create_endpoint(EndpointCreate(
            url=f"{base}/hook/{n}", event_types=["customer.*"])))[1] for n in range(endpoints)]
        await session.commit()
    await db.dispose()
    return workspace.id, secrets


async def fan_out_phase(url: str, workspace_id: Any, events_total: int) -> dict[str, Any]:
    import uuid

    from cxprism.bus import events
    from cxprism.bus.backends import InProcessBackend
    from cxprism.bus.consumers import registry
    from cxprism.bus.relay import Relay
    from cxprism.kit.db import Database
    from cxprism.runtime import DOMAIN_TASKS  # noqa: F401 - the production consumers

    db = Database(url)
    for start in range(0, events_total, 1000):
        async with db.session() as session:
            for _ in range(min(1000, events_total - start)):
                events.record(session, workspace_id, "customer.updated", {
                    "customer_id": str(uuid.uuid4()), "fields": ["plan"], "actor_id": None})
            await session.commit()
    relay = Relay(db, InProcessBackend(db, registry))
    began = time.perf_counter()
    while await relay.run_once():
        pass
    seconds = time.perf_counter() - began
    await db.dispose()
    return {"seconds": round(seconds, 3), "events_per_s": round(events_total / seconds)}


async def deliveries_left(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(plain_dsn(url))
    try:
        rows = await conn.fetch("SELECT status, count(*) FROM webhook_deliveries GROUP BY 1")
        return {row["status"]: row["count"] for row in rows}
    finally:
        await conn.close()


# --- worker processes ----------------------------------------------------------------------

async def ours(url: str, batch: int, _in_flight: int, name: str, gate: Any) -> None:
    from cxprism.kit.db import Database
    from cxprism.runtime import DOMAIN_TASKS  # noqa: F401 - the production job handlers
    from cxprism.scheduler.registry import registry
    from cxprism.scheduler.worker import Worker

    db = Database(url, pool_size=4)
    worker = Worker(db, registry, owner=name, batch_size=batch, lease_seconds=60)
    await worker.run_once()  # warm the connection pool and statement caches
    await wait_for(gate)
    while await worker.run_once():
        pass
    await db.dispose()


async def baseline(url: str, posts: int, in_flight: int, _name: str, gate: Any) -> None:
    """``url`` is the receiver's here; ``posts`` this process's share."""
    body = json.dumps({"type": "customer.updated", "timestamp": "2026-01-01T00:00:00Z",
                       "event_id": "0" * 36, "data": {"customer_id": "0" * 36,
                                                      "fields": ["plan"], "actor_id": None}})
    slots = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(timeout=15, follow_redirects=False) as client:
        await client.get(url.rsplit("/", 1)[0] + "/stats")  # warm-up, not counted
        await wait_for(gate)

        async def one(n: int) -> None:
            async with slots:
                response = await client.post(f"{url}/{n}", content=body,
                                             headers={"content-type": "application/json"})
                response.raise_for_status()

        await asyncio.gather(*(one(n) for n in range(posts)))


def process_main(kind: str, target: str, numbers: tuple[int, int], name: str,
                 gate: Any) -> None:
    """``numbers``: the batch size (ours) or the POSTs to make (baseline), and how many
    may be in flight."""
    runner = ours if kind == "ours" else baseline
    asyncio.run(runner(target, numbers[0], numbers[1], name, gate))


class Processes:
    """Worker processes that warm up, then wait for the start signal (the clock)."""

    def __init__(self, kind: str, target: str, amounts: list[int], in_flight: int) -> None:
        ctx = mp.get_context("spawn")
        self.kind = kind
        self.ready, self.start = ctx.Semaphore(0), ctx.Event()
        self.procs = [ctx.Process(target=process_main, args=(
            kind, target, (amount, in_flight), f"{kind}-{n}", (self.ready, self.start)))
            for n, amount in enumerate(amounts)]
        for proc in self.procs:
            proc.start()

    def await_ready(self) -> None:
        for _ in self.procs:
            if not self.ready.acquire(timeout=60):
                raise RuntimeError(f"a {self.kind} process did not warm up")

    def run(self) -> float:
        """Seconds from the start signal until the last process has exited."""
        began = time.perf_counter()
        self.start.set()
        for proc in self.procs:
            proc.join()
            if proc.exitcode != 0:
                raise RuntimeError(f"{self.kind} process exited with {proc.exitcode}")
        return time.perf_counter() - began


def verify_samples(samples: list[dict[str, Any]], secrets: list[str]) -> int:
    from standardwebhooks import Webhook
    from standardwebhooks.webhooks import WebhookVerificationError

    verified = 0
    for sample in samples:
        headers = sample["headers"]
        if "webhook-id" not in headers:
            continue
        # Each endpoint has its own secret: the sample verifies with exactly one of them.
        matches = 0
        for secret in secrets:
            try:
                Webhook(secret).verify(sample["body"], headers)
                matches += 1
            except WebhookVerificationError:
                continue  # another endpoint's secret
        if matches != 1:
            raise AssertionError(f"a sampled request verified with {matches} secrets")
        verified += 1
    return verified


# --- main ----------------------------------------------------------------------------------

def start_receiver() -> tuple[subprocess.Popen[bytes], str]:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    for _ in range(100):
        try:
            with socket.create_connection((HOST, port), timeout=0.1):
                return proc, f"http://{HOST}:{port}"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the receiver did not start")


async def main(args: argparse.Namespace) -> dict[str, Any]:
    from cxprism import migrate
    from cxprism.webhooks.delivery import MAX_IN_FLIGHT, PER_ENDPOINT

    server = os.environ.get("CXPRISM_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    url = await fresh_database(server, BENCH_DB)
    await asyncio.to_thread(migrate.upgrade, url)
    receiver, base = start_receiver()
    try:
        workspace_id, secrets = await setup(url, base, args.endpoints)
        total = args.events * args.endpoints
        workers = Processes("ours", url, [args.batch] * args.workers, 0)
        await asyncio.to_thread(workers.await_ready)  # idle: nothing is delivered before
        fan = await fan_out_phase(url, workspace_id, args.events)
        fan["deliveries_per_s"] = round(total / fan["seconds"])
        seconds = await asyncio.to_thread(workers.run)
        stats = await receiver_stats(base)
        left = await deliveries_left(url)
        verified = verify_samples(stats["samples"], secrets)
        await reset_receiver(base)
        shares = [total // args.workers + (n < total % args.workers)
                  for n in range(args.workers)]
        # As many in flight per process as one delivery batch allows for these endpoints.
        in_flight = min(MAX_IN_FLIGHT, PER_ENDPOINT * args.endpoints, args.batch)
        plain_procs = Processes("baseline", f"{base}/plain", shares, in_flight)
        await asyncio.to_thread(plain_procs.await_ready)
        base_seconds = await asyncio.to_thread(plain_procs.run)
        plain = await receiver_stats(base)
    finally:
        receiver.kill()
    rows = {
        "fan_out": {**fan, "events": args.events, "endpoints": args.endpoints},
        "ours": {"deliveries": total, "seconds": round(seconds, 3),
                 "deliveries_per_s": round(total / seconds), "workers": args.workers,
                 "batch": args.batch, "received": stats["count"],
                 "unique_webhook_ids": stats["unique_ids"], "statuses": left,
                 "signatures_verified": verified},
        "plain_httpx": {"posts": total, "seconds": round(base_seconds, 3),
                        "posts_per_s": round(total / base_seconds), "processes": args.workers,
                        "in_flight_per_process": in_flight, "received": plain["count"]},
    }
    return report(rows, total)


def sniffio_state() -> str:
    """httpcore asks for sniffio on every request; when it is not installed, every ask is
    a failed import that searches sys.path (about a quarter of a request's CPU here)."""
    if "sniffio" in sys.modules and sys.modules["sniffio"] is None:
        return "stubbed: the import is short-circuited (as fast as installed)"
    if importlib.util.find_spec("sniffio") is not None:
        return "installed"
    return "missing: httpcore retries the import on every request"


def report(rows: dict[str, dict[str, Any]], total: int) -> dict[str, Any]:
    fan, ours_row, plain = rows["fan_out"], rows["ours"], rows["plain_httpx"]
    ok = (ours_row["statuses"] == {"succeeded": total} and plain["received"] == total
          and ours_row["unique_webhook_ids"] == total and ours_row["received"] >= total)
    ratio = ours_row["deliveries_per_s"] / plain["posts_per_s"]
    print(f"fan-out: {fan['events']} events -> {total} deliveries in {fan['seconds']} s "
          f"({fan['events_per_s']} events/s, {fan['deliveries_per_s']} deliveries/s)")
    print(f"{'contender':<14}{'processes':>10}{'requests':>10}{'seconds':>10}{'per s':>10}")
    print(f"{'ours':<14}{ours_row['workers']:>10}{total:>10}{ours_row['seconds']:>10.2f}"
          f"{ours_row['deliveries_per_s']:>10}")
    print(f"{'plain httpx':<14}{plain['processes']:>10}{total:>10}{plain['seconds']:>10.2f}"
          f"{plain['posts_per_s']:>10}")
    print(f"sniffio: {sniffio_state()}")
    print(f"ours / plain httpx = {ratio:.2f}; {ours_row['signatures_verified']} sampled "
          f"signatures verified; statuses {ours_row['statuses']}; every webhook-id received, "
          f"each once: {ok} (target >= {TARGET} deliveries/s)")
    return {"when": datetime.now(UTC).isoformat(timespec="seconds"), "python": sys.version,
            "command": " ".join(sys.argv), "cpus": os.cpu_count(), "sniffio": sniffio_state(),
            "results": rows,
            "ours_over_plain": round(ratio, 3), "all_delivered_once": ok}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--endpoints", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.receiver:
        asyncio.run(serve_receiver(arguments.receiver))
        sys.exit(0)
    report = asyncio.run(main(arguments))
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"webhooks-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
