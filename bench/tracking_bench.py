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
   each request's scheduled send time (no coordinated omission). Each phase warms up for
   ``--warmup`` s, then measures for ``--duration`` s; only 200 responses count, and after
   the phase ``SELECT count(*)`` must equal the events those 200s acknowledged.

Prints a table and writes bench/results/tracking-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
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
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
VENV_BIN = Path(sys.executable).parent
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "cxprism_bench_tracking"
SECRET = "tracking-bench-secret-not-for-production"
HOST = "127.0.0.1"
PLACEHOLDER = b"@@@@@@@@@@@@@@@@"  # where each request's unique message id (16 bytes) goes
POPULATION = 10_000
PROFILE_HZ = 200
clock = time.perf_counter  # uvloop's loop.time() only has millisecond resolution
TEMPLATES = 256  # distinct pre-encoded requests per load process
TARGETS = {"batch_events_per_s": 40_000, "batch_ratio": 0.3, "track_events_per_s": 3_000,
           "track_p99_ms": 25.0}


# --- realistic analytics.js messages ----------------------------------------------------

PRODUCTS = [("Trail Runner 2", "Shoes", 89.9), ("Merino Crew", "Tops", 59.0),
            ("Storm Shell", "Jackets", 179.0), ("Daypack 22", "Bags", 74.5),
            ("Wool Beanie", "Accessories", 19.9), ("Hiking Sock 3-pack", "Socks", 24.0)]
ARTICLES = ["how-to-return-an-order", "delivery-times", "size-guide", "reset-your-password",
            "track-my-parcel", "payment-options"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"]
REFERRERS = ["https://www.google.com/", "https://duckduckgo.com/", "", "https://t.co/x7Yk2",
             "https://news.example.org/best-gear-2026"]
LOCALES = ["en-GB", "fr-FR", "de-DE", "en-US"]


@dataclass(frozen=True)
class Person:
    anonymous_id: str
    user_id: str | None
    agent: str
    ip: str
    locale: str


def population(seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    return [Person(str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                   f"usr_{n:06d}" if rng.random() < 0.4 else None, rng.choice(AGENTS),
                   f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}", rng.choice(LOCALES))
            for n in range(POPULATION)]


def _track_event(rng: random.Random) -> tuple[str, dict[str, Any], str]:
    """(event name, properties, page path) from a small set, roughly as a shop sends them."""
    name, category, price = rng.choice(PRODUCTS)
    sku = f"sku-{rng.randrange(10_000, 99_999)}"
    roll = rng.random()
    if roll < 0.45:
        return "Product Viewed", {"product_id": sku, "name": name, "category": category,
                                  "price": price, "currency": "EUR"}, f"/products/{sku}"
    if roll < 0.65:
        article = rng.choice(ARTICLES)
        return "Article Viewed", {"article": article, "section": "help"}, f"/help/{article}"
    if roll < 0.80:
        return "Product Added", {"product_id": sku, "name": name, "price": price,
                                 "quantity": rng.randint(1, 3), "currency": "EUR"}, "/cart"
    if roll < 0.90:
        return "Checkout Started", {"order_id": f"ord-{rng.randrange(10**8)}",
                                    "value": round(price * rng.randint(1, 3), 2),
                                    "currency": "EUR"}, "/checkout"
    if roll < 0.97:
        return "Products Searched", {"query": rng.choice(["rain jacket", "socks", "gift"])}, \
            "/search"
    return "Order Completed", {"order_id": f"ord-{rng.randrange(10**8)}",
                               "revenue": price, "currency": "EUR"}, "/checkout/done"


def message(rng: random.Random, person: Person, kind: str, message_id: str,
            at: datetime) -> dict[str, Any]:
    """One message as analytics.js (next) sends it; ``kind`` is track, page or identify."""
    event, properties, path = _track_event(rng)
    url = f"https://shop.example.com{path}"
    context = {"library": {"name": "analytics.js", "version": "next-1.72.0"},
               "page": {"path": path, "referrer": rng.choice(REFERRERS),
                        "title": "Outdoor Shop", "url": url},
               "userAgent": person.agent, "locale": person.locale, "ip": person.ip}
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    msg: dict[str, Any] = {"type": kind, "messageId": message_id,
                           "anonymousId": person.anonymous_id}
    if person.user_id is not None:
        msg["userId"] = person.user_id
    if kind == "track":
        msg.update(event=event, properties=properties)
    elif kind == "page":
        msg.update(name=None, properties={"path": path, "url": url, "title": "Outdoor Shop"})
    else:
        msg["traits"] = {"plan": rng.choice(["free", "member"]), "newsletter": rng.random() < 0.5}
    msg.update(context=context, timestamp=stamp, sentAt=stamp)
    return msg


def messages(rng: random.Random, people: list[Person], count: int, mixed: bool,
             id_of: Any) -> list[dict[str, Any]]:
    """``count`` messages: only track, or a browser's mix (70% track, 25% page, 5% identify)."""
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        roll = rng.random()
        kind = "track" if not mixed or roll < 0.70 else "page" if roll < 0.95 else "identify"
        person = rng.choice(people)
        out.append(message(rng, person, kind, id_of(n), now - timedelta(milliseconds=n)))
    return out


# --- the load generator (a separate process: ``--load SPEC``) ---------------------------


@dataclass
class Spec:
    port: int
    path: str
    write_key: str
    per_request: int  # messages per request: 1 for /v1/track, the batch size for /v1/batch
    connections: int
    warmup: float
    duration: float
    rate: float = 0.0  # > 0: open loop at this many requests/s
    seed: int = 1


class Requests:
    """Pre-encoded HTTP/1.1 requests; each render writes fresh message ids in place."""

    def __init__(self, spec: Spec) -> None:
        rng = random.Random(spec.seed)
        people = population()
        tag = uuid.uuid4().hex[:12]
        placeholder = PLACEHOLDER.decode()
        token = base64.b64encode(f"{spec.write_key}:".encode()).decode()
        self.templates: list[tuple[bytes, list[int]]] = []
        sizes: list[int] = []
        for _ in range(TEMPLATES):
            batch = messages(rng, people, spec.per_request, spec.per_request > 1,
                             lambda _n: f"ajs-next-{tag}-{placeholder}")
            sizes += [len(orjson.dumps(m)) for m in batch]
            body = orjson.dumps(batch[0] if spec.per_request == 1 else {"batch": batch})
            head = (f"POST {spec.path} HTTP/1.1\r\nHost: {HOST}:{spec.port}\r\n"
                    f"Authorization: Basic {token}\r\nContent-Type: application/json\r\n"
                    f"User-Agent: tracking-bench\r\nContent-Length: {len(body)}\r\n\r\n")
            data = head.encode() + body
            offsets, at = [], data.find(PLACEHOLDER)
            while at >= 0:
                offsets.append(at)
                at = data.find(PLACEHOLDER, at + 1)
            assert len(offsets) == spec.per_request
            self.templates.append((data, offsets))
        self.message_bytes = sum(sizes) / len(sizes)
        self.request_bytes = sum(len(t[0]) for t in self.templates) / len(self.templates)

    def render(self, index: int, connection: int, counter: int) -> tuple[bytearray, int]:
        data, offsets = self.templates[index % len(self.templates)]
        buf = bytearray(data)
        for offset in offsets:
            buf[offset:offset + 16] = b"%03d%013d" % (connection, counter)
            counter += 1
        return buf, counter


class Connection:
    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        sock = self.writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, data: bytearray) -> tuple[int, int]:
        """Send one request; (status, events accepted) from its response."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(data)
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        length = int(lower[at + 17:lower.index(b"\r\n", at + 2)]) if at >= 0 else 0
        body = await self.reader.readexactly(length)
        if b"\r\nconnection: close" in lower:
            self.close()
        if status != 200:
            return status, 0
        answer = orjson.loads(body)
        return status, int(answer.get("accepted", 0))


@dataclass
class Tally:
    """Every answered request: (scheduled or sent time, done time, status, events accepted)."""

    records: list[tuple[float, float, float, int, int]] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    next_index: int = 0


async def _closed_worker(index: int, conn: Connection, requests: Requests, tally: Tally,
                         stop_at: float) -> None:
    counter, number = 0, index
    while clock() < stop_at:
        now = clock()
        data, counter = requests.render(number, index, counter)
        number += 1
        try:
            status, accepted = await conn.exchange(data)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            tally.errors[type(exc).__name__] += 1
            conn.close()
            continue
        tally.records.append((now, now, clock(), status, accepted))


async def _open_worker(index: int, conn: Connection, requests: Requests, tally: Tally,
                       schedule: tuple[float, float, float]) -> None:
    """Take the next scheduled request, wait for its due time, send it; until the end."""
    start, rate, stop_at = schedule
    counter = 0
    while True:
        number = tally.next_index
        tally.next_index += 1
        due = start + number / rate
        if due >= stop_at:
            return
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = clock()
        data, counter = requests.render(number, index, counter)
        try:
            status, accepted = await conn.exchange(data)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            tally.errors[type(exc).__name__] += 1
            conn.close()
            continue
        tally.records.append((due, sent, clock(), status, accepted))


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {"p50": at(0.50), "p90": at(0.90), "p99": at(0.99), "p999": at(0.999),
            "max": round(ordered[-1] * 1000, 2), "count": len(ordered)}


def summarise(spec: Spec, requests: Requests, tally: Tally, start: float) -> dict[str, Any]:
    measure_from, measure_to = start + spec.warmup, start + spec.warmup + spec.duration
    statuses = Counter(str(r[3]) for r in tally.records)
    ok = [r for r in tally.records if r[3] == 200]
    if spec.rate:  # open loop: the requests scheduled within the window, from their due time
        window = [r for r in tally.records if measure_from <= r[0] < measure_to]
        latencies = [r[2] - r[0] for r in window]
    else:  # closed loop: the responses that arrived within the window
        window = [r for r in tally.records if measure_from <= r[2] < measure_to]
        latencies = [r[2] - r[1] for r in window]
    window_ok = [r for r in window if r[3] == 200]
    events = sum(r[4] for r in window_ok)
    result = {"mode": "open" if spec.rate else "closed", "path": spec.path,
              "connections": spec.connections, "per_request": spec.per_request,
              "offered_requests_per_s": spec.rate or None, "window_s": spec.duration,
              "statuses": dict(statuses), "errors": dict(tally.errors),
              "acked_events_total": sum(r[4] for r in ok),
              "window_requests_ok": len(window_ok), "window_requests_not_ok":
              len(window) - len(window_ok), "window_events_ok": events,
              "events_per_s": round(events / spec.duration, 1),
              "requests_per_s": round(len(window_ok) / spec.duration, 1),
              "latency_ms": percentiles(latencies),
              "message_bytes_avg": round(requests.message_bytes),
              "request_bytes_avg": round(requests.request_bytes)}
    if spec.rate:
        result["send_lag_ms"] = percentiles([r[1] - r[0] for r in window])
    return result


async def load(spec: Spec) -> dict[str, Any]:
    requests = Requests(spec)
    conns = [Connection(spec.port) for _ in range(spec.connections)]
    await asyncio.gather(*(c.open() for c in conns))
    tally = Tally()
    start = clock() + 0.05
    stop_at = start + spec.warmup + spec.duration
    print("start", flush=True)  # the orchestrator times its profiling from this line
    if spec.rate:
        workers = [_open_worker(i, c, requests, tally, (start, spec.rate, stop_at))
                   for i, c in enumerate(conns)]
    else:
        await asyncio.sleep(start - clock())
        workers = [_closed_worker(i, c, requests, tally, stop_at) for i, c in enumerate(conns)]
    tasks = [asyncio.ensure_future(w) for w in workers]
    _done, pending = await asyncio.wait(tasks, timeout=stop_at - clock() + 20)
    for task in pending:  # a request that never got an answer: counted, not waited for
        task.cancel()
        tally.errors["unanswered"] += 1
    for conn in conns:
        conn.close()
    return summarise(spec, requests, tally, start)


def load_main(raw: str) -> None:
    import uvloop

    spec = Spec(**json.loads(raw))
    result = uvloop.run(load(spec))
    print(json.dumps(result), flush=True)


# --- databases --------------------------------------------------------------------------


def plain_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


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


async def _pg_fetchval(url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(plain_dsn(url))
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _recreate_pg(server_url: str) -> str:
    import asyncpg
    from sqlalchemy.engine import make_url

    conn = await asyncpg.connect(plain_dsn(server_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{BENCH_DB}"')
    finally:
        await conn.close()
    return make_url(server_url).set(database=BENCH_DB).render_as_string(hide_password=False)


def server_env(url: str, log_level: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CXPRISM_")}
    env.update(CXPRISM_DATABASE_URL=url, CXPRISM_SECRET_KEY=SECRET,
               CXPRISM_LOG_LEVEL=log_level, CXPRISM_BASE_URL=f"http://{HOST}")
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


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex  # how SQLAlchemy's Uuid stores it on SQLite
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return value


def _insert_sqlite(db: BenchDb, rows: list[dict[str, Any]], total: int, chunk: int) -> float:
    tag = uuid.uuid4().hex[:12]
    plain = [[_sqlite_value(row[c]) for c in COLUMNS] for row in rows]
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
    def start(cls, db: BenchDb, workers: bool, log_level: str, tmp: Path,
              processes: int = 1) -> Server:
        """``cxprism serve`` (``--processes N``: N server processes on one port)."""
        port = free_port()
        log = tmp / "server.log"
        env = server_env(db.url, log_level)
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


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) of each process still alive."""
    seconds = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            seconds[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return seconds


def cores_used(before: dict[int, float], after: dict[int, float], seconds: float) -> float:
    return round(sum(after[p] - before[p] for p in after if p in before) / seconds, 2)


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


def machine_busy() -> dict[int, float]:
    """All CPUs' busy time (not idle, not iowait), as a pseudo process 0 for cores_used."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return {0: (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")}


def run_phase(name: str, server: Server, db: BenchDb, spec: Spec, profile: Path | None
              ) -> dict[str, Any]:
    """One load process against the server; CPU use and the stored count around it."""
    before = db.count()
    proc = subprocess.Popen([sys.executable, __file__, "--load", json.dumps(spec.__dict__)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    try:
        proc.stdout.readline()  # "start": the load clock runs
        time.sleep(spec.warmup)
        watched = {"server": server.pids(), "client": [proc.pid]}
        if db.backend == "postgresql":
            watched["postgres"] = postgres_pids()
        cpu_before = {k: cpu_seconds(v) for k, v in watched.items()}
        busy_before, load_before = machine_busy(), os.getloadavg()[0]
        spy = start_profiler(server, spec.duration, profile) if profile else None
        time.sleep(spec.duration)
        cpu = {f"{k}_cores": cores_used(cpu_before[k], cpu_seconds(v), spec.duration)
               for k, v in watched.items()}
        cpu["machine_busy_cores"] = cores_used(busy_before, machine_busy(), spec.duration)
        cpu["other_processes_cores"] = round(cpu["machine_busy_cores"] - sum(
            v for k, v in cpu.items() if k != "machine_busy_cores"), 2)
        cpu["loadavg_1m_before"] = load_before
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["cpu"] = cpu
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
              f"{k.removesuffix('_cores')} {v}" for k, v in cpu.items() if k.endswith("_cores")),
          flush=True)
    return result


def start_profiler(server: Server, duration: float, out: Path) -> subprocess.Popen[bytes]:
    spy = VENV_BIN / "py-spy"
    return subprocess.Popen([str(spy), "record", "--pid", str(server.proc.pid), "--subprocesses",
                             "--duration", str(int(duration)), "--rate", str(PROFILE_HZ),
                             "--format", "raw", "--nonblocking", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _package_of(frame: str) -> str:
    """A frame ``func (path:line)`` named by its library, or its cxprism module."""
    path = frame.rsplit("(", 1)[-1]
    if "cxprism/" in path:
        return "cxprism." + path.split("cxprism/", 1)[1].split(".py")[0].replace("/", ".")
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/", 1)[0].split(".py")[0]
    if "python3" in path:
        return "stdlib:" + path.split("/")[-1].split(".py")[0]
    return path.rstrip(")")


MIDDLEWARE = ("cxprism/kit/request_id.py", "cxprism/kit/limits.py")


def _owner(frames: list[str]) -> str:
    """Who spent a sample: the innermost cxprism function on the stack (with the libraries it
    called), else the leaf's package (the HTTP server and the framework). The middlewares
    that wrap every request count only for their own code."""
    for depth, frame in enumerate(reversed(frames)):
        if "cxprism/" in frame and "cxprism/cli.py" not in frame and (
                depth == 0 or not any(m in frame for m in MIDDLEWARE)):
            return frame
    return "not under cxprism code: " + _package_of(frames[-1])


def summarise_profile(path: Path, seconds: float, top: int = 20) -> dict[str, Any]:
    """Shares of the samples (%): by owner (see _owner), by leaf package, by leaf function,
    and inclusive by function (less the frames every sample shares)."""
    by_owner: Counter[str] = Counter()
    by_package: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";")]
        total += count
        by_owner[_owner(frames)] += count
        self_time[frames[-1]] += count
        by_package[_package_of(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count
    common = max(inclusive.values(), default=0) * 0.97

    def share(counter: Counter[str], skip_common: bool = False) -> list[list[Any]]:
        ranked = [(k, n) for k, n in counter.most_common() if not skip_common or n < common]
        return [[name, round(100 * n / max(total, 1), 1)] for name, n in ranked[:top]]

    return {"samples": total, "sampled_busy_pct": round(100 * total / (seconds * PROFILE_HZ)),
            "by_owner_pct": share(by_owner), "self_by_package_pct": share(by_package),
            "self_pct": share(self_time), "inclusive_pct": share(inclusive, True),
            "raw": str(path)}


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
        server = Server.start(db, workers, args.log_level, tmp, args.server_processes)
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
                                              profile_path("track_open"))
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
