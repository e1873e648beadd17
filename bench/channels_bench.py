"""Inbound channel throughput on PostgreSQL: signed Twilio SMS webhooks and SMTP mail.

    .venv/bin/python bench/channels_bench.py [--phases sms,email] [--duration 10] [--warmup 3]
        [--sms-connections 32] [--smtp-connections 16]

A fresh database (``cxprism_bench_channels`` on CXPRISM_BENCH_POSTGRES_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres) gets a workspace with a Twilio SMS
channel and an email channel; ``cxprism serve --no-workers`` runs with its SMTP server on.
Each load runs in its own process (this script with ``--sms-load``/``--smtp-load``):

* SMS: distinct inbound messages, each signed as Twilio signs, POSTed to the channel's
  webhook; baseline: ``GET /healthz`` on the same server with the same connections (the
  HTTP floor). After the phase, the stored messages must equal the 200s.
* Email: distinct mails over long-lived SMTP sessions; baseline: the same load against a
  sink SMTP server (aiosmtpd answering 250 and keeping nothing) in its own process.

While a load runs, the bench ANALYZEs the database every 2 s, so that plans are those of
a workspace whose statistics are current (the steady state autovacuum keeps), not of
tables that were empty seconds ago: this machine's PostgreSQL has autovacuum off, and
with an empty table's statistics the planner soon reads a whole workspace per lookup.

Prints a table and writes bench/results/channels-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pg_common import fresh_database, plain_dsn
from tracking_bench import HOST, SECRET, Server, free_port, server_env

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VENV_PY = sys.executable
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "0123456789abcdef" * 2
SMS_NUMBER = "+14155550100"
INBOX = "support@bench.test"
TARGETS = {"sms_messages_per_s": 2_000, "email_messages_per_s": 300}
ANALYZE_EVERY = 2.0  # seconds


async def _setup(url: str, phases: str) -> dict[str, str]:
    from cxprism.channels import builtin  # noqa: F401 - registers the connectors
    from cxprism.channels.schemas import ChannelCreate
    from cxprism.channels.service import ChannelService
    from cxprism.kit.db import Database
    from cxprism.workspaces import schemas
    from cxprism.workspaces.service import create_workspace

    db = Database(url)
    try:
        async with db.session() as session:
            workspace = await create_workspace(
                session, schemas.WorkspaceCreate(slug="bench", name="Bench"))
            channels = ChannelService(session, workspace.id)
            ids = {}
            if "sms" in phases:
                sms = await channels.create(ChannelCreate(
                    kind="twilio_sms", name="SMS", config={
                        "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN,
                        "phone_number": SMS_NUMBER}))
                ids["sms_channel_id"] = str(sms.id)
            await channels.create(ChannelCreate(kind="email", name="Support", config={
                "address": INBOX, "smtp_host": "127.0.0.1", "smtp_tls": "none"}))
            await session.commit()
            return ids
    finally:
        await db.dispose()


async def _count(url: str, kind: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(plain_dsn(url))
    try:
        return int(await conn.fetchval(
            "SELECT count(*) FROM messages m JOIN channels c ON c.id = m.channel_id "
            "WHERE c.kind = $1", kind))
    finally:
        await conn.close()


def _load(flag: str, spec: dict[str, Any]) -> dict[str, Any]:
    with _analyzing(os.environ["CXPRISM_BENCH_DATABASE_URL"]):
        done = subprocess.run([VENV_PY, __file__, flag, json.dumps(spec)], cwd=ROOT / "bench",
                              capture_output=True, text=True, timeout=600, check=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@contextlib.contextmanager
def _analyzing(url: str, every: float = ANALYZE_EVERY) -> Iterator[None]:
    """ANALYZE the bench database every ``every`` s while a load runs (see the module
    docstring: current statistics, as in a steady state)."""
    stop = threading.Event()

    async def loop() -> None:
        import asyncpg

        conn = await asyncpg.connect(plain_dsn(url))
        try:
            while not stop.wait(every):
                await conn.execute("ANALYZE")
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(loop(),), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def sms_phase(server: Server, ids: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    path = f"/hooks/twilio_sms/{ids['sms_channel_id']}"
    # Signed for the public URL the server is configured with (CXPRISM_BASE_URL), as Twilio
    # signs the URL set in its console.
    spec = {"port": server.port, "path": path, "url": f"http://{HOST}{path}",
            "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "to": SMS_NUMBER,
            "connections": args.sms_connections, "warmup": args.warmup,
            "duration": args.duration, "max_rate": 6000, "senders": args.senders}
    floor = _load("--sms-load", {**spec, "floor": True})
    ours = _load("--sms-load", spec)
    return {"ours": ours, "http_floor": floor}


def email_phase(smtp_port: int, args: argparse.Namespace) -> dict[str, Any]:
    spec = {"port": smtp_port, "to": INBOX, "connections": args.smtp_connections,
            "warmup": args.warmup, "duration": args.duration}
    sink_port = free_port()
    sink = subprocess.Popen([VENV_PY, __file__, "--sink", str(sink_port)], cwd=ROOT / "bench")
    try:
        time.sleep(1.5)
        floor = _load("--smtp-load", {**spec, "port": sink_port})
    finally:
        sink.terminate()
        sink.wait()
    ours = _load("--smtp-load", spec)
    return {"ours": ours, "sink_floor": floor}


def run(args: argparse.Namespace) -> dict[str, Any]:
    server_url = os.environ.get("CXPRISM_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    url = asyncio.run(fresh_database(server_url, "cxprism_bench_channels"))
    os.environ["CXPRISM_BENCH_DATABASE_URL"] = url
    subprocess.run([str(Path(VENV_PY).parent / "cxprism"), "db", "upgrade"],
                   env=server_env(url, "warning"), cwd=ROOT, check=True, capture_output=True)
    os.environ["CXPRISM_SECRET_KEY"] = SECRET  # channel secrets are sealed with it
    ids = asyncio.run(_setup(url, args.phases))
    smtp_port = free_port()
    results: dict[str, Any] = {}
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"channels-bench-{uuid.uuid4().hex[:6]}"
    tmp.mkdir(parents=True)
    server = Server.start(url, workers=False, log_level="warning", tmp=tmp,
                          processes=args.server_processes, extra_env={
                              "CXPRISM_SMTP_ENABLED": "true", "CXPRISM_SMTP_PORT": str(smtp_port),
                              "CXPRISM_STORAGE_DIR": str(tmp / "attachments")})
    try:
        if "sms" in args.phases:
            results["sms"] = sms_phase(server, ids, args)
            results["sms"]["stored"] = asyncio.run(_count(url, "twilio_sms"))
        if "email" in args.phases:
            results["email"] = email_phase(smtp_port, args)
            results["email"]["stored"] = asyncio.run(_count(url, "email"))
    finally:
        server.stop()
    return results


def report(results: dict[str, Any]) -> None:
    if "sms" in results:
        sms = results["sms"]
        ours, floor = sms["ours"], sms["http_floor"]
        print(f"sms    ours {ours['requests_per_s']:>9,.0f} msg/s  p50 "
              f"{ours['latency_ms'].get('p50')} ms  p99 {ours['latency_ms'].get('p99')} ms  "
              f"stored {sms['stored']:,} / acked {ours['acked_total']:,}")
        print(f"       HTTP floor (GET /healthz) {floor['requests_per_s']:>9,.0f} req/s  ratio "
              f"{ours['requests_per_s'] / max(floor['requests_per_s'], 1):.2f}")
    if "email" in results:
        email = results["email"]
        ours, floor = email["ours"], email["sink_floor"]
        print(f"email  ours {ours['messages_per_s']:>9,.0f} msg/s  p50 "
              f"{ours['latency_ms'].get('p50')} ms  p99 {ours['latency_ms'].get('p99')} ms  "
              f"stored {email['stored']:,} / acked {ours['acked_total']:,}")
        print(f"       sink SMTP floor {floor['messages_per_s']:>9,.0f} msg/s  ratio "
              f"{ours['messages_per_s'] / max(floor['messages_per_s'], 1):.2f}")
    print(f"targets: SMS >= {TARGETS['sms_messages_per_s']:,}/s, email >= "
          f"{TARGETS['email_messages_per_s']:,}/s")


def sink(port: int) -> None:
    from aiosmtpd.smtp import SMTP

    class Discard:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            return "250 OK"

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: SMTP(Discard(), loop=loop), HOST, port)
        await server.serve_forever()

    asyncio.run(serve())


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--sms-load":
        from sms_load import load_main
        load_main(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--smtp-load":
        from smtp_load import load_main as smtp_main
        smtp_main(sys.argv[2])
        return
    if len(sys.argv) == 3 and sys.argv[1] == "--sink":
        sink(int(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--phases", default="sms,email")
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--sms-connections", type=int, default=32)
    parser.add_argument("--smtp-connections", type=int, default=16)
    parser.add_argument("--senders", type=int, default=2000,
                        help="distinct SMS senders (new ones cost a profile each)")
    parser.add_argument("--server-processes", type=int, default=1,
                        help="serve --processes N (they share the HTTP and SMTP ports)")
    args = parser.parse_args()
    results = run(args)
    report(results)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"channels-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps({"settings": vars(args), "targets": TARGETS, **results}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
