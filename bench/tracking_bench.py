"""Segment-compatible ingestion throughput: ``/v1/batch`` and ``/v1/track`` against a real server.

    .venv/bin/python bench/tracking_bench.py [--backends postgresql,sqlite] [--duration 10]
        [--warmup 3] [--server-workers off|on|both] [--profile] [--log-level info]

For each backend (and server mode) the script:

1. creates a fresh database (PostgreSQL: drops and creates ``cxprism_bench_tracking`` on the
   server named by CXPRISM_BENCH_POSTGRES_URL, default
   postgresql+asyncpg://postgres@127.0.0.1:5432/postgres; SQLite: a file in a temporary
   directory), runs ``cxprism db upgrade``, and creates a workspace and a website source;
2. measures the floor: raw inserts of ``--copy-rows`` rows of the same shape into the same
   table (PostgreSQL: asyncpg ``copy_records_to_table``; SQLite: sqlite3 ``executemany``),
   ``--copy-chunk`` rows per commit, then empties the table again;
3. starts ``cxprism serve --no-workers`` (``--server-workers on``: with the relay and job
   workers) as a subprocess on 127.0.0.1;
4. runs three load phases, each in its own load-generator process (this script with
   ``--load``): ``/v1/batch`` closed-loop (``--batch-size`` events per request,
   ``--batch-connections`` connections); ``/v1/track`` closed-loop for the maximum rate;
   ``/v1/track`` open-loop at ``--open-fraction`` of that maximum, latency measured from
   each request's scheduled send time (no coordinated omission). Before each phase the
   write-ahead log is checkpointed, off the clock (PostgreSQL ``CHECKPOINT``, SQLite
   ``wal_checkpoint(TRUNCATE)``), so no phase pays for the checkpoint that the one before
   it set due. Each phase warms up for ``--warmup`` s, then measures for ``--duration`` s;
   only 200 responses count, and after the phase ``SELECT count(*)`` must equal the events
   those 200s acknowledged.

Prints a table and writes bench/results/tracking-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loadgen import Spec, load_main, merge
from machine import cores_used, cpu_seconds, cpu_waits, disk_activity, disk_counters, machine_busy
from pg_common import fresh_database as fresh_pg_database
from pg_common import plain_dsn, sqlite_value
from profiling import start_profiler, summarise_profile
from tracking_messages import messages, population

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "cxprism_bench_tracking"
SECRET = "tracking-bench-secret-not-for-production"
HOST = "127.0.0.1"
TARGETS = {"batch_events_per_s": 40_000, "batch_ratio": 0.3, "track_events_per_s": 3_000,
           "track_p99_ms": 25.0}


# --- databases --------------------------------------------------------------------------



@dataclass
class BenchDb:
    backend: str
    url: str
    workspace_id: uuid.UUID
    source_id: uuid.UUID
    write_key: str

    def count(self) -> int:
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url.split("///", 1)[1])) as conn:
                return int(conn.execute("SELECT count(*) FROM tracked_events").fetchone()[0])
        return asyncio.run(_pg_fetchval(self.url, "SELECT count(*) FROM tracked_events"))

    def settle(self) -> None:
        """Checkpoint the write-ahead log, off the clock, so that a phase does not pay for
        the checkpoint the previous phase's writes set due (this machine's PostgreSQL
        checkpoints every ~500 MB of WAL: the batch phase writes more than that)."""
        if self.backend == "sqlite":
            with contextlib.closing(sqlite3.connect(self.url.split("///", 1)[1])) as conn:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return
        asyncio.run(_pg_fetchval(self.url, "CHECKPOINT"))


async def _pg_fetchval(url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(plain_dsn(url))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _recreate_pg(server_url: str) -> str:
    return await fresh_pg_database(server_url, BENCH_DB)


def server_env(url: str, log_level: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXPRISM_")}
    env.update(CXPRISM_DATABASE_URL=url, CXPRISM_SECRET_KEY=SECRET,
               CXPRISM_LOG_LEVEL=log_level, CXPRISM_BASE_URL=f"http://{HOST}",
               CXPRISM_SMTP_ENABLED="false")
    return env


async def _make_source(url: str) -> tuple[uuid.UUID, uuid.UUID, str]:
    from cxprism.kit.db import Database
    from cxprism.workspaces import schemas
    from cxprism.workspaces.service import WorkspaceService, create_workspace

    db = Database(url)
    try:
        async with db.session() as session:
            workspace = await create_workspace(
                session, schemas.WorkspaceCreate(slug="bench", name="Bench"))
            source, key = await WorkspaceService(session, workspace.id).create_source(
                schemas.SourceCreate(name="website", kind=schemas.SourceKind("website")))
            await session.commit()
            return workspace.id, source.id, key
    finally:
        await db.dispose()


def fresh_database(backend: str, tmp: Path) -> BenchDb:
    if backend == "postgresql":
        server = os.environ.get("CXPRISM_BENCH_POSTGRES_URL", DEFAULT_SERVER)
        url = asyncio.run(_recreate_pg(server))
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    subprocess.run([str(VENV_BIN / "cxprism"), "db", "upgrade"], env=server_env(url, "warning"),
                   cwd=ROOT, check=True, capture_output=True, timeout=120)
    os.environ["CXPRISM_SECRET_KEY"] = SECRET  # create_source seals the key with it
    workspace_id, source_id, key = asyncio.run(_make_source(url))
    return BenchDb(backend, url, workspace_id, source_id, key)


# --- the floor: raw inserts of the same rows --------------------------------------------

COLUMNS = ["workspace_id", "seq", "source_id", "message_id", "type", "name", "user_id",
           "anonymous_id", "group_id", "previous_id", "timestamp", "original_timestamp",
           "sent_at", "received_at", "payload"]


def base_rows(db: BenchDb, count: int = 5000) -> list[dict[str, Any]]:
    """Rows exactly as the ingestion path builds them, from the same message generator."""
    from cxprism.tracking.messages import Envelope, to_row

    rng = random.Random(99)
    msgs = messages(rng, population(), count, True, lambda n: f"ajs-next-raw-{n:016d}")
    envelope = Envelope(datetime.now(UTC))
    rows = [to_row(m, envelope) for m in msgs]
    return [{**row, "seq": 0, "workspace_id": db.workspace_id, "source_id": db.source_id,
             "payload": row["payload"].text.decode()} for row in rows]


async def _copy_pg(db: BenchDb, rows: list[dict[str, Any]], total: int, chunk: int,
                   connections: int) -> float:
    import asyncpg

    tag = uuid.uuid4().hex[:12]
    records = [tuple(f"raw-{tag}-{n:016d}" if c == "message_id" else
                     (1_000_000_000 + n if c == "seq" else rows[n % len(rows)][c])
                     for c in COLUMNS) for n in range(total)]
    conns = [await asyncpg.connect(plain_dsn(db.url)) for _ in range(connections)]

    async def copy(conn: Any, first: int) -> None:  # connection k takes chunks k, k+n, ...
        for at in range(first * chunk, total, chunk * connections):
            await conn.copy_records_to_table("tracked_events", records=records[at:at + chunk],
                                             columns=COLUMNS)  # one COPY, one commit

    try:
        started = time.perf_counter()
        await asyncio.gather(*(copy(conn, k) for k, conn in enumerate(conns)))
        elapsed = time.perf_counter() - started
        stored = await conns[0].fetchval("SELECT count(*) FROM tracked_events")
        assert stored == total, (stored, total)
        await conns[0].execute("TRUNCATE tracked_events")
        return elapsed
    finally:
        for conn in conns:
            await conn.close()


def _insert_sqlite(db: BenchDb, rows: list[dict[str, Any]], total: int, chunk: int) -> float:
    tag = uuid.uuid4().hex[:12]
    plain = [[sqlite_value(row[c]) for c in COLUMNS] for row in rows]
    records = []
    for n in range(total):
        record = list(plain[n % len(plain)])
        record[1], record[3] = 1_000_000_000 + n, f"raw-{tag}-{n:016d}"
        records.append(record)
    sql = (f"INSERT INTO tracked_events ({', '.join(COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(COLUMNS))})")
    conn = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # the application's own settings
        conn.execute("PRAGMA synchronous=NORMAL")
        started = time.perf_counter()
        for at in range(0, total, chunk):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, records[at:at + chunk])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        assert conn.execute("SELECT count(*) FROM tracked_events").fetchone()[0] == total
        conn.execute("DELETE FROM tracked_events")
        return elapsed
    finally:
        conn.close()


def raw_floor(db: BenchDb, total: int, chunk: int, connections: int) -> dict[str, Any]:
    rows = base_rows(db)
    if db.backend == "postgresql":
        elapsed = asyncio.run(_copy_pg(db, rows, total, chunk, connections))
        method = f"asyncpg copy_records_to_table, {connections} connection(s)"
    else:
        elapsed = _insert_sqlite(db, rows, total, chunk)
        method = "sqlite3 executemany INSERT (WAL, synchronous=NORMAL)"
    return {"method": method, "rows": total, "rows_per_commit": chunk,
            "seconds": round(elapsed, 3), "events_per_s": round(total / elapsed, 1)}


# --- the server and the phases ----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @classmethod
    def start(cls, url: str, workers: bool, log_level: str, tmp: Path, *,
              processes: int = 1, extra_env: dict[str, str] | None = None) -> Server:
        """``cxprism serve`` (``--processes N``: N server processes on one port)."""
        port = free_port()
        log = tmp / "server.log"
        env = {**server_env(url, log_level), **(extra_env or {})}
        command = [str(VENV_BIN / "cxprism"), "serve", "--host", HOST, "--port", str(port),
                   "--workers" if workers else "--no-workers", "--processes", str(processes)]
        with log.open("wb") as out:
            proc = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=out)
        server = cls(proc, port, log)
        server.wait_ready()
        return server

    def pids(self) -> list[int]:
        """The server process and its children (uvicorn's worker processes)."""
        found, queue = [], [self.proc.pid]
        while queue:
            pid = queue.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for task in Path(f"/proc/{pid}/task").iterdir():
                    queue += [int(c) for c in (task / "children").read_text().split()]
        return found

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(
                    (HOST, self.port), timeout=1) as sock:
                sock.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
            time.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


PG_SHARED = ("checkpointer", "walwriter", "background writer")


def postgres_pids() -> list[int]:
    """The bench database's backends and the WAL writer, checkpointer and bgwriter (whose
    work the bench causes); not the backends of other databases on the same server."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() != "postgres":
                    continue
                title = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
                if BENCH_DB in title or any(name in title for name in PG_SHARED):
                    pids.append(int(entry.name))
    return pids


def _load_specs(spec: Spec, processes: int) -> list[Spec]:
    """The phase's load split over ``processes`` processes that start on one clock: each
    takes its share of the connections and of the rate, its sends interleaved with the
    others' (one process's own event loop, busy reading a burst of answers, sent late and
    was charged for it as the server's latency)."""
    if processes == 1:
        return [spec]
    start_at = time.time() + 2.0  # time to start, build the requests and connect
    return [Spec(**{**spec.__dict__, "connections": spec.connections // processes,
                    "rate": spec.rate / processes, "seed": spec.seed + k,
                    "start_at": start_at, "offset": k / spec.rate if spec.rate else 0.0,
                    "keep_latencies": True})
            for k in range(processes)]


def run_phase(name: str, server: Server, db: BenchDb, spec: Spec, profile: Path | None, *,
              load_processes: int = 1) -> dict[str, Any]:
    """Load processes against the server; CPU use and the stored count around them."""
    db.settle()
    before = db.count()
    specs = _load_specs(spec, load_processes)
    procs = [subprocess.Popen([sys.executable, __file__, "--load", json.dumps(s.__dict__)],
                              stdout=subprocess.PIPE, text=True) for s in specs]
    try:
        for proc in procs:
            assert proc.stdout is not None
            proc.stdout.readline()  # "start": connected; the load clock runs (or soon will)
        if specs[0].start_at:
            time.sleep(max(0.0, specs[0].start_at - time.time()))
        time.sleep(spec.warmup)
        watched = {"server": server.pids(), "client": [proc.pid for proc in procs]}
        if db.backend == "postgresql":
            watched["postgres"] = postgres_pids()
        cpu_before = {k: cpu_seconds(v) for k, v in watched.items()}
        waits_before = cpu_waits(watched["server"])
        busy_before, load_before = machine_busy(), os.getloadavg()[0]
        disk_before = disk_counters()
        spy = start_profiler(server, spec.duration, profile) if profile else None
        time.sleep(spec.duration)
        cpu = {f"{k}_cores": cores_used(cpu_before[k], cpu_seconds(v), spec.duration)
               for k, v in watched.items()}
        cpu["machine_busy_cores"] = cores_used(busy_before, machine_busy(), spec.duration)
        cpu["other_processes_cores"] = round(cpu["machine_busy_cores"] - sum(
            v for k, v in cpu.items() if k != "machine_busy_cores"), 2)
        cpu["server_waiting_for_cpu_share"] = cores_used(
            waits_before, cpu_waits(watched["server"]), spec.duration)
        cpu["loadavg_1m_before"] = load_before
        disk = disk_activity(disk_before, disk_counters(), spec.duration)
        outs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    results = [json.loads(out.strip().splitlines()[-1]) for out in outs]
    result: dict[str, Any] = (results[0] if len(results) == 1
                              else merge(results, spec.duration))
    result["cpu"] = cpu
    result["disk"] = disk
    stored = db.count() - before
    result["stored"] = stored
    result["verified"] = stored == result["acked_events_total"]
    if spy is not None:
        spy.wait(timeout=60)
        result["profile"] = summarise_profile(profile, spec.duration)  # type: ignore[arg-type]
    print(f"  {name:<12} {result['events_per_s']:>10,.0f} events/s  "
          f"p50 {result['latency_ms'].get('p50', 0):>7.1f} ms  "
          f"p99 {result['latency_ms'].get('p99', 0):>7.1f} ms  "
          f"stored {stored:,} / acked {result['acked_events_total']:,}  cores: " + " ".join(
              f"{k.removesuffix('_cores')} {v}" for k, v in cpu.items() if k.endswith("_cores"))
          + f"  server waited for a CPU {cpu['server_waiting_for_cpu_share']:.0%} of the time"
          + f"  disk flushes {disk['flushes_per_s']}/s of {disk['flush_ms_mean']} ms",
          flush=True)
    return result


# --- orchestration ----------------------------------------------------------------------


def run_backend(backend: str, workers: bool, args: argparse.Namespace) -> dict[str, Any]:
    print(f"{backend}, server {'with' if workers else 'without'} workers", flush=True)
    with tempfile.TemporaryDirectory(prefix="cxprism-tracking-bench-") as tmp_name:
        tmp = Path(tmp_name)
        db = fresh_database(backend, tmp)
        run: dict[str, Any] = {"backend": backend, "server_workers": workers,
                               "server_processes": args.server_processes}
        run["raw"] = raw_floor(db, args.copy_rows, args.copy_chunk, args.copy_connections)
        print(f"  raw          {run['raw']['events_per_s']:>10,.0f} events/s  "
              f"({run['raw']['method']}, {args.copy_chunk} rows per commit)", flush=True)
        server = Server.start(db.url, workers, args.log_level, tmp,
                              processes=args.server_processes)
        profiles = RESULTS / "profiles" if args.profile else None
        if profiles:
            profiles.mkdir(parents=True, exist_ok=True)

        def profile_path(phase: str) -> Path | None:
            return profiles / f"{STAMP}-{backend}-{phase}.txt" if profiles else None

        common = {"port": server.port, "write_key": db.write_key, "warmup": args.warmup,
                  "duration": args.duration}
        phases = args.phases.split(",")
        try:
            if "batch" in phases:
                run["batch"] = run_phase("batch", server, db, Spec(
                    path="/v1/batch", per_request=args.batch_size,
                    connections=args.batch_connections, **common), profile_path("batch"))
                run["batch_ratio_to_raw"] = round(
                    run["batch"]["events_per_s"] / run["raw"]["events_per_s"], 3)
            if "track" in phases:
                run["track_max"] = run_phase("track max", server, db, Spec(
                    path="/v1/track", per_request=1, connections=args.track_connections,
                    **common), profile_path("track_max"))
                rate = max(1.0, args.open_fraction * run["track_max"]["requests_per_s"])
                run["track_open"] = run_phase(f"track {args.open_fraction:.0%}", server, db,
                                              Spec(path="/v1/track", per_request=1,
                                                   connections=args.open_connections,
                                                   rate=round(rate, 1), **common),
                                              profile_path("track_open"),
                                              load_processes=args.open_processes)
        finally:
            server.stop()
        run["server_log_tail"] = server.log.read_text(errors="replace")[-1500:]
        return run


def print_table(runs: list[dict[str, Any]]) -> None:
    print()
    print(f"{'backend':<11}{'workers':<9}{'phase':<15}{'events/s':>11}{'p50 ms':>9}"
          f"{'p99 ms':>9}{'stored=acked':>14}  note")
    for run in runs:
        mode = ("on" if run["server_workers"] else "off") + (
            f" x{run['server_processes']}" if run["server_processes"] > 1 else "")
        label = f"{run['backend']:<11}{mode:<9}"
        print(f"{label}{'raw floor':<15}{run['raw']['events_per_s']:>11,.0f}{'':>9}{'':>9}"
              f"{'':>14}  {run['raw']['method']}")
        notes = {"batch": f"ratio to raw {run.get('batch_ratio_to_raw', 0):.2f}",
                 "track_max": "", "track_open": "latency from scheduled send; offered "
                 f"{run.get('track_open', {}).get('offered_requests_per_s', 0):,.0f} req/s"}
        for phase, note in notes.items():
            if phase not in run:
                continue
            r = run[phase]
            lat = r["latency_ms"]
            print(f"{label}{phase:<15}{r['events_per_s']:>11,.0f}{lat.get('p50', 0):>9.1f}"
                  f"{lat.get('p99', 0):>9.1f}{'yes' if r['verified'] else 'NO':>14}  {note}")
    print(f"\ntargets (PostgreSQL): batch >= {TARGETS['batch_events_per_s']:,} events/s and >= "
          f"{TARGETS['batch_ratio']} of raw COPY; track >= {TARGETS['track_events_per_s']:,} "
          f"events/s with p99 <= {TARGETS['track_p99_ms']:.0f} ms at 70% of max")


STAMP = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backends", default="postgresql,sqlite")
    parser.add_argument("--server-workers", choices=["off", "on", "both"], default="off")
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--phases", default="batch,track", help="batch, track or both")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--batch-connections", type=int, default=32)
    parser.add_argument("--track-connections", type=int, default=64)
    parser.add_argument("--open-connections", type=int, default=128)
    parser.add_argument("--open-fraction", type=float, default=0.7)
    parser.add_argument("--open-processes", type=int, default=1,
                        help="load-generator processes sharing the open loop's rate")
    parser.add_argument("--copy-rows", type=int, default=300_000)
    parser.add_argument("--copy-chunk", type=int, default=5000)
    parser.add_argument("--copy-connections", type=int, default=1)
    parser.add_argument("--log-level", default="info", help="the server's CXPRISM_LOG_LEVEL")
    parser.add_argument("--server-processes", type=int, default=1,
                        help="> 1: uvicorn --workers N on cxprism.app:create_app instead of "
                             "`cxprism serve` (one process)")
    parser.add_argument("--profile", action="store_true",
                        help="py-spy the server during each measured window")
    parser.add_argument("--load", help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.load:
        load_main(args.load)
        return
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.server_workers]
    started = time.monotonic()
    runs = [run_backend(backend, workers, args)
            for backend in args.backends.split(",") for workers in modes]
    print_table(runs)
    report = {"started_at": STAMP, "seconds": round(time.monotonic() - started, 1),
              "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "settings": {k: v for k, v in vars(args).items() if k != "load"},
              "targets": TARGETS, "runs": runs}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"tracking-{STAMP}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
