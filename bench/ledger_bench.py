"""Trust ledger throughput: appends, the cost of its hashing, and inclusion proofs.

    .venv/bin/python bench/ledger_bench.py [--database postgresql|sqlite] [--leaves 200000]
        [--batch 1000] [--customers 10000] [--proof-log-size 1000000] [--grow-batch 5000]
        [--proof-seconds 10] [--proofs 50000] [--proof-batch 1000] [--concurrency 4]
        [--messages stored|absent] [--profile] [--keep]

One run, in a fresh database (PostgreSQL: ``cxprism_bench_ledger``, dropped and created on
the server named by CXPRISM_BENCH_POSTGRES_URL, default
postgresql+asyncpg://postgres@127.0.0.1:5432/postgres, and dropped again at the end unless
``--keep``; SQLite: a file in a temporary directory), migrated with
``cxprism.migrate.upgrade``. The ledger's tables (and messages, conversations, channels)
have no foreign key to ``workspaces``, so each phase appends to a log of its own random
workspace id, created on first use by ``LedgerService.head()``. Each such workspace gets
three channels (email, twilio_sms, whatsapp) and one conversation per customer, written
directly before the clock starts.

1. appends: ``--leaves`` synthetic domain events of ledgered types (60% message.received,
   15% consent.changed, 25% outbound.status_changed, shaped as the services record them)
   about ``--customers`` customers (skewed: customer k is picked with density ~ 1/sqrt(k),
   so salts are both looked up and created), appended ``--batch`` per transaction through
   ``LedgerService(session, workspace_id).append(events)`` and committed, as the ledger
   consumer does (without its checkpoint-job enqueue and the relay's own bookkeeping).
   Events are generated, and the messages the batch's message.received events tell of are
   stored (``--messages stored``, as ingestion did before the consumer ran: ``append``
   reads them to commit to their content), before each batch's clock starts;
   ``--messages absent`` skips that, so append finds no content. The appended log is read
   back and checked: every stored leaf hash is SHA-256(0x00 || entry) and the head's
   frontier root equals the root recomputed from the leaves;
2. the floor for 1: the same entries (bytes, leaf hashes, types) written raw into the same
   ``ledger_entries`` table under another workspace id, ``--batch`` rows per commit
   (PostgreSQL: asyncpg ``copy_records_to_table``, i.e. COPY, one connection; SQLite: sqlite3
   ``executemany`` with the application's pragmas); the ratio appends / raw is reported;
3. hashing cost, in process, no database, best of ``--hash-repeats``: the ledger's hashing
   of those same entries (``merkle.leaf_hash`` per entry, plus ``layout.extend`` from the
   frontier, ``--batch`` leaves at a time, as ``append`` does) against a bare
   ``hashlib.sha256(b"\\x00" + entry).digest()`` loop over the same bytes; also the bare
   loop plus as many bare node hashes as ``extend`` computed (the pure hashing floor);
4. inclusion proofs: a log of ``--proof-log-size`` leaves is grown through the same append
   path, ``--grow-batch`` per transaction (its rate is reported too), then the ledger
   tables are VACUUM ANALYZEd (PostgreSQL; ANALYZE on SQLite), and proofs of random leaves
   against the head's tree size are made with ``ProofService.inclusion_proofs``: (a) one
   leaf per call, each in its own short session, sequentially; (b) ``--proof-batch``
   distinct random leaves per call; (c) as (b) through ``ProofService.receipts`` (what
   ``POST /api/v1/ledger/receipts`` answers: entries read, receipts encoded against a
   checkpoint of the head, signed by the first call); (d) (a) from ``--concurrency``
   concurrent tasks (0: skipped). Each runs ``--proof-seconds`` s or ``--proofs`` proofs,
   whichever ends first, after a short warm-up. A sample of the proofs is verified with
   ``merkle.verify_inclusion`` against the root of the head's frontier, with leaf hashes
   recomputed from the stored entries; the stored hashes one proof reads (the dict
   ``repo.stored`` returns) are counted for 200 random leaves, and for whole batches;
5. ``--profile``: cProfile of extra appends (another workspace) and of a few seconds of
   single proofs, after the measurements (never during them); the top functions go to the
   JSON and the full listings to bench/results/profiles/.

The bench process's own CPU (cores used) and the whole machine's busy cores are recorded
for every phase: other work on the machine skews every figure, so read them.

Prints a table and writes bench/results/ledger-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import io
import json
import os
import pstats
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from machine import machine_busy_seconds
from pg_common import fresh_database, plain_dsn, sqlite_value

from cxprism.kit.ids import uuid7  # no settings read: safe before CXPRISM_SECRET_KEY is set

SECRET = "ledger-bench-secret-not-for-production"
os.environ["CXPRISM_SECRET_KEY"] = SECRET  # before cxprism.config: log keys are wrapped by it

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
DEFAULT_SERVER = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "cxprism_bench_ledger"
STAMP = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
TARGETS = {"append_leaves_per_s": 20_000, "inclusion_proofs_per_s": 5_000,
           "proof_log_size": 1_000_000}
ENTRY_COLUMNS = ["workspace_id", "idx", "event_id", "event_type", "entry", "leaf_hash",
                 "created_at"]
CHANNELS = [("email", "message"), ("twilio_sms", "message"), ("whatsapp", "message")]
SAMPLE_EVERY = 50  # verify every 50th proof made in a timed loop
WARMUP_PROOFS = 200


# --- measuring -------------------------------------------------------------------------


@dataclass
class Meter:
    """Wall time, this process's CPU and the machine's busy CPU over one phase."""

    wall: float = field(default_factory=time.perf_counter)
    cpu: float = field(default_factory=time.process_time)
    busy: float = field(default_factory=machine_busy_seconds)

    def read(self) -> dict[str, float]:
        wall = time.perf_counter() - self.wall
        return {"wall_seconds": round(wall, 3),
                "bench_process_cores": round((time.process_time() - self.cpu) / wall, 2),
                "machine_busy_cores": round((machine_busy_seconds() - self.busy) / wall, 2)}


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    if not seconds:
        return {}
    ordered = sorted(seconds)

    def at(q: float) -> float:
        return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)

    return {"p50": at(0.5), "p90": at(0.9), "p99": at(0.99), "max": at(1.0),
            "mean": round(1000 * statistics.fmean(ordered), 3)}


class StatementCounter:
    """Counts the SQL statements the engine executes (for statements per proof)."""

    def __init__(self, engine: Any) -> None:
        from sqlalchemy import event

        self.count = 0
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, *_args: Any) -> None:
        self.count += 1


# --- the database ----------------------------------------------------------------------


def create_database(backend: str, tmp: Path) -> str:
    from cxprism import migrate

    if backend == "postgresql":
        server = os.environ.get("CXPRISM_BENCH_POSTGRES_URL", DEFAULT_SERVER)
        url = asyncio.run(fresh_database(server, BENCH_DB))
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'ledger-bench.db'}"
    migrate.upgrade(url)  # alembic runs its own event loop: outside ours
    return url


async def _drop_pg() -> None:
    import asyncpg

    server = os.environ.get("CXPRISM_BENCH_POSTGRES_URL", DEFAULT_SERVER)
    conn = await asyncpg.connect(plain_dsn(server))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
    finally:
        await conn.close()


def sqlite_path(url: str) -> str:
    return url.split("///", 1)[1]


ANALYZE_EVERY = 20_000


async def maintain(url: str, backend: str, *, vacuum: bool = True) -> float:
    """VACUUM ANALYZE (or only ANALYZE) the ledger's and the messages' tables (PostgreSQL),
    or ANALYZE (SQLite); seconds.

    This machine's PostgreSQL runs with autovacuum off, so nothing refreshes the planner's
    statistics while the bench loads rows: without them it soon reads every message of the
    workspace to find a batch's 600 by id (measured: appends falling from 12,000 to 3,000
    leaves/s over 80,000). The appends ANALYZE every ``ANALYZE_EVERY`` leaves, off the clock,
    as autovacuum would on a production server.
    """
    started = time.perf_counter()
    if backend == "postgresql":
        import asyncpg

        conn = await asyncpg.connect(plain_dsn(url))
        try:
            await conn.execute(("VACUUM ANALYZE" if vacuum else "ANALYZE") + " ledger_entries, "
                               "ledger_nodes, ledger_salts, ledger_logs, messages, "
                               "conversations")
        finally:
            await conn.close()
    else:
        with contextlib.closing(sqlite3.connect(sqlite_path(url))) as conn:
            conn.execute("ANALYZE")
    return time.perf_counter() - started


# --- synthetic events ------------------------------------------------------------------


WORDS = ("order", "delivery", "refund", "invoice", "account", "password", "shipping",
         "tracking", "number", "please", "thanks", "hello", "help", "question", "payment",
         "card", "update", "address", "return", "exchange", "size", "colour", "warranty",
         "broken", "late", "today", "tomorrow", "week", "store", "online", "app", "phone")


class EventMaker:
    """Domain events of ledgered types, shaped as the services record them, and the rows
    ingestion stored before them (channels, one conversation per customer, the messages)."""

    def __init__(self, workspace_id: uuid.UUID, customers: int, seed: int) -> None:
        self.rng = random.Random(seed)
        people = random.Random(1234)  # the same customers in every phase
        self.workspace_id = workspace_id
        self.customers = [uuid.UUID(int=people.getrandbits(128), version=4)
                          for _ in range(customers)]
        self.conversations = [self._uuid() for _ in range(customers)]
        self.channels = [(self._uuid(), kind) for kind, _ in CHANNELS]
        self.texts = [" ".join(self.rng.choices(WORDS, k=self.rng.randrange(8, 80))).capitalize()
                      for _ in range(64)]
        self.seq = 0
        self.clock = datetime(2026, 12, 1, tzinfo=UTC)
        self.picked: set[int] = set()
        self.messages: list[dict[str, Any]] = []

    def _customer(self) -> int:
        at = int(len(self.customers) * self.rng.random() ** 2)  # density ~ 1/sqrt(k)
        self.picked.add(at)
        return at

    def _message(self, person: int) -> dict[str, Any]:
        channel_id, channel_kind = self.channels[person % len(self.channels)]
        message_id, text = uuid7(), self.rng.choice(self.texts)
        email = channel_kind == "email"
        self.messages.append({
            "id": message_id, "workspace_id": self.workspace_id,
            "conversation_id": self.conversations[person],
            "customer_id": self.customers[person], "channel_id": channel_id,
            "direction": "inbound", "sender_type": "customer", "kind": "message",
            "external_id": f"ext-{message_id.hex}", "subject": text[:40] if email else None,
            "text": text, "html": f"<p>{text}</p>" if email else None, "attachments": [],
            "meta": {}, "status": "received",
            "status_history": [{"status": "received", "at": self.clock.isoformat()}],
            "sent_at": self.clock, "created_at": self.clock, "updated_at": self.clock})
        return {"message_id": str(message_id),
                "conversation_id": str(self.conversations[person]),
                "customer_id": str(self.customers[person]), "channel_id": str(channel_id),
                "kind": "message", "direction": "inbound", "status": "received",
                "channel_kind": channel_kind}

    def _payload(self, kind: str, person: int) -> dict[str, Any]:
        if kind == "message.received":
            return self._message(person)
        customer = str(self.customers[person])
        if kind == "consent.changed":
            return {"customer_id": customer, "channel": self.rng.choice(["email", "sms"]),
                    "purpose": "marketing",
                    "status": self.rng.choice(["granted", "granted", "withdrawn"]),
                    "source": "web_form"}
        status, previous = self.rng.choice([("sent", "queued"), ("delivered", "sent"),
                                            ("failed", "sent"), ("read", "delivered")])
        return {"send_id": str(uuid7()), "customer_id": customer,
                "channel_kind": self.rng.choice(["email", "sms", "whatsapp"]),
                "purpose": self.rng.choice(["marketing", "transactional"]),
                "status": status, "previous": previous,
                "reason": "provider_error" if status == "failed" else None}

    def _uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def make(self, count: int) -> list[Any]:
        """``count`` events; the messages they tell of wait in ``messages``. Event, message
        and send ids are UUIDv7, time-ordered, as the application makes them."""
        from cxprism.bus.events import DomainEvent

        found = []
        for _ in range(count):
            roll = self.rng.random()
            kind = ("message.received" if roll < 0.6 else
                    "consent.changed" if roll < 0.75 else "outbound.status_changed")
            self.seq += 1
            self.clock += timedelta(microseconds=self.rng.randrange(1, 5000))
            found.append(DomainEvent(uuid7(), self.workspace_id, kind,
                                     self._payload(kind, self._customer()), self.clock,
                                     self.seq))
        return found

    async def setup(self, db: Any) -> None:
        """The workspace's channels and one conversation per customer."""
        from sqlalchemy import insert

        from cxprism.channels.models import Channel
        from cxprism.conversations.models import Conversation

        async with db.session() as session:
            await session.execute(insert(Channel), [
                {"id": channel_id, "workspace_id": self.workspace_id, "kind": kind,
                 "name": kind, "address": f"{kind}-{self.workspace_id}", "config": {}}
                for channel_id, kind in self.channels])
            rows = [{"id": conversation, "workspace_id": self.workspace_id,
                     "customer_id": self.customers[person],
                     "channel_id": self.channels[person % len(self.channels)][0],
                     "channel_kind": self.channels[person % len(self.channels)][1],
                     "reply_token": uuid.uuid4().hex, "tags": []}
                    for person, conversation in enumerate(self.conversations)]
            for at in range(0, len(rows), 1000):
                await session.execute(insert(Conversation), rows[at:at + 1000])
            await session.commit()

    async def store_messages(self, db: Any) -> int:
        """Store the messages the events made so far tell of, as ingestion did before."""
        from sqlalchemy import insert

        from cxprism.conversations.models import Message

        rows, self.messages = self.messages, []
        if rows:
            async with db.session() as session:
                for at in range(0, len(rows), 1000):
                    await session.execute(insert(Message), rows[at:at + 1000])
                await session.commit()
        return len(rows)


# --- appends ---------------------------------------------------------------------------


async def append_leaves(db: Any, maker: EventMaker, total: int, batch: int, label: str,
                        *, store_messages: bool) -> dict[str, Any]:
    """``total`` events through LedgerService.append, ``batch`` per committed transaction,
    to the log of ``maker``'s workspace; each batch's messages are stored off the clock."""
    from cxprism.ledger.service import LedgerService

    workspace_id = maker.workspace_id
    times: list[float] = []
    sizes: list[int] = []
    meter = Meter()
    busy, next_report, stored_messages = 0.0, total // 10, 0
    await maker.setup(db)
    for start in range(0, total, batch):
        events = maker.make(min(batch, total - start))
        if store_messages:
            stored_messages += await maker.store_messages(db)
        else:
            maker.messages.clear()
        if start % ANALYZE_EVERY < batch:
            await maintain(db.url, db.dialect, vacuum=False)  # off the clock
        started = time.perf_counter()
        async with db.session() as session:
            appended = await LedgerService(session, workspace_id).append(events)
            await session.commit()
        times.append(time.perf_counter() - started)
        sizes.append(len(events))
        busy += times[-1]
        assert appended is not None and appended.size == start + len(events), appended
        if start + len(events) >= next_report and total >= 100_000:
            print(f"  {label}: {start + len(events):>10,} leaves, "
                  f"{(start + len(events)) / busy:>8,.0f} leaves/s so far", flush=True)
            next_report += total // 10
    tenth = max(1, len(times) // 10)
    return {"leaves": total, "batch": batch, "transactions": len(times),
            "messages_stored_beforehand": stored_messages,
            "seconds": round(busy, 3), "leaves_per_s": round(total / busy, 1),
            "first_tenth_leaves_per_s": round(sum(sizes[:tenth]) / sum(times[:tenth]), 1),
            "last_tenth_leaves_per_s": round(sum(sizes[-tenth:]) / sum(times[-tenth:]), 1),
            "transaction_ms": percentiles_ms(times),
            "cpu_whole_phase": meter.read()}  # with the untimed event and message writing


@dataclass
class Stored:
    """The appended log as stored: entries, leaf hashes, and the head."""

    entries: list[bytes]
    leaf_hashes: list[bytes]
    event_ids: list[uuid.UUID]
    event_types: list[str]
    size: int
    root: bytes


async def read_back(db: Any, workspace_id: uuid.UUID) -> Stored:
    from sqlalchemy import select

    from cxprism.ledger.layout import Frontier
    from cxprism.ledger.models import LedgerEntry
    from cxprism.ledger.service import LedgerService

    async with db.session() as session:
        log = await LedgerService(session, workspace_id).head()
        rows = (await session.execute(
            select(LedgerEntry.idx, LedgerEntry.entry, LedgerEntry.leaf_hash,
                   LedgerEntry.event_id, LedgerEntry.event_type)
            .where(LedgerEntry.workspace_id == workspace_id)
            .order_by(LedgerEntry.idx))).all()
    assert [r.idx for r in rows] == list(range(log.size)), "entries are not 0..size-1"
    return Stored([r.entry for r in rows], [r.leaf_hash for r in rows],
                  [r.event_id for r in rows], [r.event_type for r in rows], log.size,
                  Frontier.decode(log.size, log.frontier).root())


def check_stored(stored: Stored) -> dict[str, Any]:
    """Every stored leaf hash is the entry's; the head's root is the leaves' root."""
    from cxprism.ledger import merkle

    leaves_ok = all(merkle.leaf_hash(e) == h
                    for e, h in zip(stored.entries, stored.leaf_hashes, strict=True))
    root_ok = merkle.root(stored.leaf_hashes) == stored.root
    sizes = [len(e) for e in stored.entries]
    messages = [json.loads(e)["data"] for e, kind in zip(stored.entries, stored.event_types,
                                                         strict=True)
                if kind == "message.received"]
    return {"leaf_hashes_match_entries": leaves_ok, "head_root_matches_leaves": root_ok,
            "message_entries": len(messages),
            "message_entries_with_content": sum(bool(m.get("content")) for m in messages),
            "entry_bytes": {"mean": round(statistics.fmean(sizes), 1), "min": min(sizes),
                            "max": max(sizes)}}


# --- the raw floor ---------------------------------------------------------------------


def raw_records(stored: Stored, workspace_id: uuid.UUID) -> list[tuple[Any, ...]]:
    now = datetime.now(UTC)
    return [(workspace_id, idx, event_id, kind, entry, digest, now)
            for idx, (entry, digest, event_id, kind) in enumerate(zip(
                stored.entries, stored.leaf_hashes, stored.event_ids, stored.event_types,
                strict=True))]


async def raw_copy_pg(url: str, records: list[tuple[Any, ...]], chunk: int) -> float:
    import asyncpg

    conn = await asyncpg.connect(plain_dsn(url))
    try:
        started = time.perf_counter()
        for at in range(0, len(records), chunk):  # one COPY, one commit each
            await conn.copy_records_to_table("ledger_entries", records=records[at:at + chunk],
                                             columns=ENTRY_COLUMNS)
        elapsed = time.perf_counter() - started
        stored = await conn.fetchval("SELECT count(*) FROM ledger_entries WHERE workspace_id "
                                     "= $1", records[0][0])
        assert stored == len(records), (stored, len(records))
        return elapsed
    finally:
        await conn.close()


def raw_insert_sqlite(url: str, records: list[tuple[Any, ...]], chunk: int) -> float:
    plain = [tuple(sqlite_value(v) for v in record) for record in records]
    sql = (f"INSERT INTO ledger_entries ({', '.join(ENTRY_COLUMNS)}) "
           f"VALUES ({', '.join('?' * len(ENTRY_COLUMNS))})")
    conn = sqlite3.connect(sqlite_path(url), isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")  # the application's own settings
        conn.execute("PRAGMA synchronous=NORMAL")
        started = time.perf_counter()
        for at in range(0, len(plain), chunk):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(sql, plain[at:at + chunk])
            conn.execute("COMMIT")
        elapsed = time.perf_counter() - started
        found = conn.execute("SELECT count(*) FROM ledger_entries WHERE workspace_id = ?",
                             (plain[0][0],)).fetchone()[0]
        assert found == len(plain), (found, len(plain))
        return elapsed
    finally:
        conn.close()


async def raw_floor(url: str, backend: str, stored: Stored, chunk: int) -> dict[str, Any]:
    records = raw_records(stored, uuid.uuid4())
    meter = Meter()
    if backend == "postgresql":
        elapsed = await raw_copy_pg(url, records, chunk)
        method = "asyncpg copy_records_to_table (COPY), 1 connection"
    else:
        elapsed = await asyncio.to_thread(raw_insert_sqlite, url, records, chunk)
        method = "sqlite3 executemany INSERT (WAL, synchronous=NORMAL)"
    return {"method": method, "rows": len(records), "rows_per_commit": chunk,
            "seconds": round(elapsed, 3), "rows_per_s": round(len(records) / elapsed, 1),
            "cpu": meter.read()}


# --- hashing, in process ---------------------------------------------------------------


def best_of(repeats: int, run: Callable[[], Any]) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best, result


def hashing_cost(stored: Stored, batch: int, repeats: int) -> dict[str, Any]:
    from cxprism.ledger.layout import Frontier, extend
    from cxprism.ledger.merkle import leaf_hash

    entries = stored.entries

    def leaves() -> list[bytes]:
        return [leaf_hash(e) for e in entries]

    hashes = leaves()

    def grow() -> tuple[Frontier, int]:  # as append does: decode, extend, encode per batch
        frontier, nodes = Frontier.empty(), 0
        for at in range(0, len(hashes), batch):
            growth = extend(Frontier.decode(frontier.size, frontier.encode()),
                            hashes[at:at + batch])
            frontier, nodes = growth.frontier, nodes + len(growth.nodes)
        return frontier, nodes

    def raw() -> None:
        sha256 = hashlib.sha256
        for entry in entries:
            sha256(b"\x00" + entry).digest()

    left, right = hashes[0], hashes[-1]

    def raw_nodes() -> None:  # as many bare interior hashes as extend computes (n - 1)
        sha256 = hashlib.sha256
        for _ in range(len(hashes) - 1):
            sha256(b"\x01" + left + right).digest()

    leaf_s, _ = best_of(repeats, leaves)
    extend_s, (frontier, stored_nodes) = best_of(repeats, grow)
    raw_s, _ = best_of(repeats, raw)
    raw_nodes_s, _ = best_of(repeats, raw_nodes)
    ledger_s = leaf_s + extend_s
    return {"leaves": len(entries), "repeats": repeats, "batch": batch,
            "leaf_hash_seconds": round(leaf_s, 4), "extend_seconds": round(extend_s, 4),
            "ledger_hashing_seconds": round(ledger_s, 4),
            "raw_hashlib_seconds": round(raw_s, 4),
            "ratio_ledger_to_raw_hashlib": round(ledger_s / raw_s, 3),
            "raw_leaf_plus_node_hashes_seconds": round(raw_s + raw_nodes_s, 4),
            "ratio_ledger_to_raw_leaf_plus_node": round(ledger_s / (raw_s + raw_nodes_s), 3),
            "stored_nodes_written": stored_nodes,
            "extend_root_matches_head": frontier.root() == stored.root}


# --- inclusion proofs ------------------------------------------------------------------


@dataclass
class ProofLog:
    workspace_id: uuid.UUID
    size: int
    root: bytes


@dataclass
class ProofRun:
    made: int = 0
    calls: int = 0
    latencies: list[float] = field(default_factory=list)
    samples: list[tuple[int, list[bytes]]] = field(default_factory=list)


async def proof_call(db: Any, log: ProofLog, indices: Sequence[int]) -> dict[int, list[bytes]]:
    from cxprism.ledger.proofs import ProofService
    from cxprism.ledger.service import LedgerService

    async with db.session() as session:
        return await ProofService(LedgerService(session, log.workspace_id)).inclusion_proofs(
            indices, log.size)


async def receipts_call(db: Any, log: ProofLog, indices: Sequence[int]
                        ) -> dict[int, list[bytes]]:
    """``ProofService.receipts`` (what ``POST /api/v1/ledger/receipts`` answers): entries
    read, proofs made, receipts encoded; their proofs decoded back for the sample check."""
    import base64

    from cxprism.ledger.proofs import ProofService
    from cxprism.ledger.service import LedgerService

    async with db.session() as session:
        made = await ProofService(LedgerService(session, log.workspace_id)).receipts(indices)
        await session.commit()  # the first call signs the checkpoint it proves against
    return {r["index"]: [base64.b64decode(h) for h in r["inclusion_proof"]] for r in made}


async def timed_proofs(db: Any, log: ProofLog, counter: StatementCounter, *, per_call: int,
                       tasks: int, seconds: float, limit: int, seed: int,
                       call: Callable[..., Awaitable[dict[int, list[bytes]]]] = proof_call,
                       ) -> dict[str, Any]:
    """Proofs of random leaves, ``per_call`` per call, from ``tasks`` concurrent tasks."""
    run = ProofRun()

    async def worker(k: int, deadline: float, cap: int, keep: ProofRun) -> None:
        rng = random.Random(seed * 1000 + k)
        while time.perf_counter() < deadline and keep.made < cap:
            indices = ([rng.randrange(log.size)] if per_call == 1 else
                       rng.sample(range(log.size), per_call))
            started = time.perf_counter()
            proofs = await call(db, log, indices)
            keep.latencies.append(time.perf_counter() - started)
            keep.made, keep.calls = keep.made + len(proofs), keep.calls + 1
            if keep.calls % (1 if per_call > 1 else SAMPLE_EVERY) == 0:
                first = indices[0]
                keep.samples.append((first, proofs[first]))

    warm = ProofRun()  # connections, prepared statements and caches, off the clock
    await asyncio.gather(*(worker(-1 - k, time.perf_counter() + 5, WARMUP_PROOFS, warm)
                           for k in range(tasks)))
    statements, meter = counter.count, Meter()
    deadline = time.perf_counter() + seconds
    await asyncio.gather(*(worker(k, deadline, limit, run) for k in range(tasks)))
    cpu = meter.read()
    return {"per_call": per_call, "tasks": tasks, "proofs": run.made, "calls": run.calls,
            "seconds": cpu["wall_seconds"],
            "proofs_per_s": round(run.made / cpu["wall_seconds"], 1),
            "call_latency_ms": percentiles_ms(run.latencies),
            "statements_per_call": round((counter.count - statements) / max(1, run.calls), 2),
            "cpu": cpu, "_samples": run.samples}


async def verify_samples(db: Any, log: ProofLog, samples: Sequence[tuple[int, list[bytes]]]
                         ) -> dict[str, int]:
    """Check sampled proofs against the head's root, leaf hashes recomputed from entries."""
    from sqlalchemy import select

    from cxprism.ledger.merkle import leaf_hash, verify_inclusion
    from cxprism.ledger.models import LedgerEntry

    wanted = sorted({index for index, _ in samples})
    entries: dict[int, bytes] = {}
    async with db.session() as session:
        for at in range(0, len(wanted), 1000):
            rows = await session.execute(
                select(LedgerEntry.idx, LedgerEntry.entry)
                .where(LedgerEntry.workspace_id == log.workspace_id,
                       LedgerEntry.idx.in_(wanted[at:at + 1000])))
            entries.update(dict(rows.all()))
    good = sum(verify_inclusion(leaf_hash(entries[index]), index, log.size, proof, log.root)
               for index, proof in samples)
    return {"verified": good, "sampled": len(samples)}


async def count_reads(db: Any, log: ProofLog, samples: int, batch: int, seed: int
                      ) -> dict[str, Any]:
    """Stored hashes on a proof's path (the dict ``repo.stored`` returns for a plan made
    without the subtree cache: the O(log n) reads a cold process makes), one per call and
    per ``batch``-leaf call; the reads left once this process's cache is warm (as the
    timed runs left it: ProofService reads only the rest); and the in-process CPU cost of
    a proof without the database (plan, then the proof from the dict read)."""
    from cxprism.ledger.layout import inclusion_plan, inclusion_proofs
    from cxprism.ledger.service import LedgerService
    from cxprism.ledger.subtree_cache import proofs_cache

    rng = random.Random(seed)
    cpu = {"plan": 0.0, "build": 0.0, "proofs": 0}

    async def read(indices: Sequence[int]) -> tuple[int, int]:
        started = time.perf_counter()
        plan = inclusion_plan(indices, log.size)
        cpu["plan"] += time.perf_counter() - started
        async with db.session() as session:
            found = await LedgerService(session, log.workspace_id).repo.stored(plan.reads)
        started = time.perf_counter()
        inclusion_proofs(plan, found)
        cpu["build"] += time.perf_counter() - started
        cpu["proofs"] += len(indices)
        return len(found), len(plan.reads)

    single = [await read([rng.randrange(log.size)]) for _ in range(samples)]
    single_cpu, cpu = cpu, {"plan": 0.0, "build": 0.0, "proofs": 0}
    batched = [await read(rng.sample(range(log.size), batch)) for _ in range(3)]
    counts = [found for found, _ in single]
    warm = proofs_cache.of(log.workspace_id)
    warm_reads = [len(inclusion_plan([rng.randrange(log.size)], log.size, warm).reads)
                  for _ in range(samples)]

    def per_proof_us(spent: dict[str, float]) -> dict[str, float]:
        plan, build = (1e6 * spent[k] / spent["proofs"] for k in ("plan", "build"))
        return {"plan_us": round(plan, 1), "build_us": round(build, 1),
                "ceiling_proofs_per_s_one_core": round(1e6 / (plan + build), 1)}

    return {"single_leaf_samples": samples,
            "stored_hashes_per_proof": {"mean": round(statistics.fmean(counts), 1),
                                        "min": min(counts), "max": max(counts)},
            "all_keys_found": all(f == k for f, k in single + batched),
            "reads_per_proof_warm_cache": {"mean": round(statistics.fmean(warm_reads), 1),
                                           "min": min(warm_reads), "max": max(warm_reads)},
            "batch": batch,
            "stored_hashes_per_proof_in_batch": round(
                statistics.fmean(found for found, _ in batched) / batch, 1),
            "python_cpu_per_proof_single": per_proof_us(single_cpu),
            "python_cpu_per_proof_batched": per_proof_us(cpu)}


async def proofs_phase(db: Any, log: ProofLog, args: argparse.Namespace) -> dict[str, Any]:
    counter = StatementCounter(db.engine)
    modes: list[tuple[str, int, int, Any]] = [
        ("single", 1, 1, proof_call), ("batched", args.proof_batch, 1, proof_call),
        ("receipts", args.proof_batch, 1, receipts_call)]
    if args.concurrency > 0:
        modes.append((f"single_x{args.concurrency}", 1, args.concurrency, proof_call))
    result: dict[str, Any] = {"log_size": log.size}
    samples: list[tuple[int, list[bytes]]] = []
    for number, (name, per_call, tasks, call) in enumerate(modes):
        run = await timed_proofs(db, log, counter, per_call=per_call, tasks=tasks,
                                 seconds=args.proof_seconds, limit=args.proofs, seed=number,
                                 call=call)
        samples += run.pop("_samples")
        result[name] = run
        print(f"  proofs {name:<11} {run['proofs_per_s']:>10,.0f} proofs/s  "
              f"({run['proofs']:,} proofs, {run['calls']:,} calls, "
              f"p50 {run['call_latency_ms'].get('p50', 0):.2f} ms/call, "
              f"{run['statements_per_call']} statements/call)", flush=True)
    result["verification"] = await verify_samples(db, log, samples)
    result["reads"] = await count_reads(db, log, 200, args.proof_batch, seed=99)
    return result


# --- profiling (after the measurements) ------------------------------------------------


def top_functions(profile: cProfile.Profile, limit: int = 15) -> tuple[list[dict[str, Any]], str]:
    stats = pstats.Stats(profile)
    rows = []
    for (path, line, name), (_cc, calls, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        rows.append({"function": f"{Path(path).name}:{line}({name})", "calls": calls,
                     "tottime_s": round(tottime, 3), "cumtime_s": round(cumtime, 3)})
    rows.sort(key=lambda r: -r["tottime_s"])
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats("cumulative").print_stats(60)
    return rows[:limit], text.getvalue()


async def profiled(name: str, work: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    await work()
    profile.disable()
    elapsed = time.perf_counter() - started
    top, text = top_functions(profile)
    out = RESULTS / "profiles" / f"ledger-{STAMP}-{name}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return {"seconds_under_profiler": round(elapsed, 3), "listing": str(out),
            "top_by_tottime": top}


async def profile_phase(db: Any, log: ProofLog, args: argparse.Namespace) -> dict[str, Any]:
    maker = EventMaker(uuid.uuid4(), args.customers, seed=7)
    warm = min(args.leaves, 20 * args.batch)

    async def appends() -> None:
        await append_leaves(db, maker, warm, args.batch, "profile",
                            store_messages=args.messages == "stored")

    rng = random.Random(5)

    async def proofs() -> None:
        deadline = time.perf_counter() + 3
        while time.perf_counter() < deadline:
            await proof_call(db, log, [rng.randrange(log.size)])

    async def batched() -> None:
        for _ in range(3):
            await proof_call(db, log, rng.sample(range(log.size), args.proof_batch))

    return {"append": await profiled("append", appends),
            "single_proofs": await profiled("single-proofs", proofs),
            "batched_proofs": await profiled("batched-proofs", batched)}


# --- orchestration ---------------------------------------------------------------------


async def run_all(url: str, args: argparse.Namespace) -> dict[str, Any]:
    from cxprism.kit.db import Database
    from cxprism.ledger.layout import Frontier
    from cxprism.ledger.service import LedgerService

    db = Database(url, pool_size=max(10, args.concurrency))
    result: dict[str, Any] = {}
    try:
        maker = EventMaker(uuid.uuid4(), args.customers, seed=1)
        result["append"] = await append_leaves(db, maker, args.leaves, args.batch, "append",
                                               store_messages=args.messages == "stored")
        result["append"]["distinct_customers"] = len(maker.picked)
        print(f"  append           {result['append']['leaves_per_s']:>10,.0f} leaves/s "
              f"({args.batch} per transaction)", flush=True)
        stored = await read_back(db, maker.workspace_id)
        result["append"]["check"] = check_stored(stored)
        result["raw"] = await raw_floor(url, args.database, stored, args.batch)
        result["append_ratio_to_raw"] = round(
            result["append"]["leaves_per_s"] / result["raw"]["rows_per_s"], 3)
        print(f"  raw floor        {result['raw']['rows_per_s']:>10,.0f} rows/s   "
              f"({result['raw']['method']})", flush=True)
        result["hashing"] = hashing_cost(stored, args.batch, args.hash_repeats)  # no I/O
        result["hashing"]["share_of_append_seconds"] = round(
            result["hashing"]["ledger_hashing_seconds"] / result["append"]["seconds"], 3)
        del stored
        grower = EventMaker(uuid.uuid4(), args.customers, seed=2)
        result["grow"] = await append_leaves(db, grower, args.proof_log_size, args.grow_batch,
                                             "grow", store_messages=args.messages == "stored")
        print(f"  grow             {result['grow']['leaves_per_s']:>10,.0f} leaves/s "
              f"({args.grow_batch} per transaction)", flush=True)
        result["grow"]["maintenance_seconds"] = round(await maintain(url, args.database), 3)
        async with db.session() as session:
            head = await LedgerService(session, grower.workspace_id).head()
            log = ProofLog(grower.workspace_id, head.size,
                           Frontier.decode(head.size, head.frontier).root())
        result["proofs"] = await proofs_phase(db, log, args)
        if args.profile:
            result["profile"] = await profile_phase(db, log, args)
    finally:
        await db.dispose()
    return result


def _row(label: str, value: str, note: str = "") -> None:
    print(f"{label:<40}{value:>16}  {note}")


def print_table(result: dict[str, Any], args: argparse.Namespace) -> None:
    append, raw, hashing, grow = (result[k] for k in ("append", "raw", "hashing", "grow"))
    proofs = result["proofs"]
    print()
    print(f"ledger bench on {args.database}, {os.cpu_count()} CPUs")
    _row("measure", "value", "note")
    _row(f"appends ({append['batch']:,}/txn)", f"{append['leaves_per_s']:,.0f} leaves/s",
         f"target >= {TARGETS['append_leaves_per_s']:,}; {append['leaves']:,} leaves, "
         f"txn p50 {append['transaction_ms']['p50']:.0f} ms")
    _row("raw floor", f"{raw['rows_per_s']:,.0f} rows/s", raw["method"])
    _row("appends / raw", f"{result['append_ratio_to_raw']:.3f}")
    _row("hashing: ledger (leaf_hash + extend)", f"{hashing['ledger_hashing_seconds']:.3f} s",
         f"leaf {hashing['leaf_hash_seconds']:.3f} s + extend "
         f"{hashing['extend_seconds']:.3f} s")
    _row("hashing: raw sha256(0x00 || entry)", f"{hashing['raw_hashlib_seconds']:.3f} s")
    _row("hashing: ledger / raw hashlib", f"{hashing['ratio_ledger_to_raw_hashlib']:.2f}x",
         f"{hashing['ratio_ledger_to_raw_leaf_plus_node']:.2f}x of raw leaf+node hashes; "
         f"{hashing['share_of_append_seconds']:.1%} of append time")
    _row(f"grow to {grow['leaves']:,} ({grow['batch']:,}/txn)",
         f"{grow['leaves_per_s']:,.0f} leaves/s",
         f"first/last tenth {grow['first_tenth_leaves_per_s']:,.0f} / "
         f"{grow['last_tenth_leaves_per_s']:,.0f}")
    for name in ("single", "batched", "receipts", f"single_x{args.concurrency}"):
        if name in proofs:
            run = proofs[name]
            _row(f"proofs {name} ({run['per_call']}/call)", f"{run['proofs_per_s']:,.0f} /s",
                 f"target >= {TARGETS['inclusion_proofs_per_s']:,}; call p50 "
                 f"{run['call_latency_ms']['p50']:.2f} ms, p99 "
                 f"{run['call_latency_ms']['p99']:.2f} ms")
    reads, checked = proofs["reads"], proofs["verification"]
    _row("stored hashes on a proof's path", f"{reads['stored_hashes_per_proof']['mean']:.1f}",
         f"min {reads['stored_hashes_per_proof']['min']}, max "
         f"{reads['stored_hashes_per_proof']['max']}; "
         f"{reads['stored_hashes_per_proof_in_batch']:.1f} per proof in batches of "
         f"{reads['batch']:,} (no cache)")
    _row("  of which read with a warm cache",
         f"{reads['reads_per_proof_warm_cache']['mean']:.1f}",
         f"min {reads['reads_per_proof_warm_cache']['min']}, max "
         f"{reads['reads_per_proof_warm_cache']['max']}: levels below "
         "subtree_cache.CACHED_FROM_LEVEL")
    ceiling = reads["python_cpu_per_proof_single"]
    _row("proof CPU without the database", f"{ceiling['plan_us'] + ceiling['build_us']:.0f} us",
         f"plan {ceiling['plan_us']:.0f} + build {ceiling['build_us']:.0f} us: at most "
         f"{ceiling['ceiling_proofs_per_s_one_core']:,.0f} proofs/s per core (batched: "
         f"{reads['python_cpu_per_proof_batched']['ceiling_proofs_per_s_one_core']:,.0f})")
    _row("proofs verified", f"{checked['verified']}/{checked['sampled']}",
         "merkle.verify_inclusion against the head's frontier root")
    print("checks: leaf hashes = SHA-256(0x00||entry): "
          f"{append['check']['leaf_hashes_match_entries']}; head root = leaves' root: "
          f"{append['check']['head_root_matches_leaves']}; extend root = head root: "
          f"{hashing['extend_root_matches_head']}; all proof keys stored: "
          f"{reads['all_keys_found']}; message entries with content: "
          f"{append['check']['message_entries_with_content']:,}/"
          f"{append['check']['message_entries']:,}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--leaves", type=int, default=200_000, help="leaves appended (phase 1)")
    parser.add_argument("--batch", type=int, default=1000, help="events per append transaction")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--messages", choices=["stored", "absent"], default="stored",
                        help="store each message.received's message before its append (as "
                             "ingestion does), or not: append then finds no content to commit")
    parser.add_argument("--proof-log-size", type=int, default=1_000_000)
    parser.add_argument("--grow-batch", type=int, default=5000,
                        help="events per transaction while growing the proof log")
    parser.add_argument("--proof-seconds", type=float, default=10.0)
    parser.add_argument("--proofs", type=int, default=50_000,
                        help="at most this many proofs per proof mode")
    parser.add_argument("--proof-batch", type=int, default=1000, help="leaves per batched call")
    parser.add_argument("--concurrency", type=int, default=4,
                        help="tasks making single proofs at once (0: skip that mode)")
    parser.add_argument("--hash-repeats", type=int, default=5)
    parser.add_argument("--profile", action="store_true",
                        help="cProfile extra appends and proofs after the measurements")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL database")
    args = parser.parse_args()
    if args.leaves < 1 or args.proof_log_size < args.proof_batch:
        parser.error("--leaves must be positive and --proof-log-size >= --proof-batch")
    return args


def main() -> None:
    args = parse_args()
    started, load_before = time.monotonic(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="cxprism-ledger-bench-") as tmp:
        url = create_database(args.database, Path(tmp))
        try:
            result = asyncio.run(run_all(url, args))
        finally:
            if args.database == "postgresql" and not args.keep:
                asyncio.run(_drop_pg())
    print_table(result, args)
    report = {"started_at": STAMP, "seconds": round(time.monotonic() - started, 1),
              "cpus": os.cpu_count(), "python": sys.version.split()[0],
              "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
              "settings": vars(args), "targets": TARGETS, **result}
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ledger-{STAMP}.json"
    out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
