"""The tracking benchmark's load generator: a separate process (``tracking_bench.py --load``).

uvloop, raw asyncio streams, keep-alive HTTP/1.1, requests pre-encoded with each message id
patched in place; closed loop for the maximum rate, open loop at a fixed rate for latency.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import socket
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson
from tracking_messages import messages, population

HOST = "127.0.0.1"
PLACEHOLDER = b"@@@@@@@@@@@@@@@@"  # where each request's unique message id (16 bytes) goes
clock = time.perf_counter  # uvloop's loop.time() only has millisecond resolution
TEMPLATES = 256  # distinct pre-encoded requests per load process

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
    start_at: float = 0.0  # Unix time the clock starts (several processes share it); 0: now
    offset: float = 0.0  # added to every due time: several processes' sends interleave
    keep_latencies: bool = False  # return the window's latencies, for a merge


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
        await _exchange(conn, data, tally, now, now)


async def _exchange(conn: Connection, data: bytearray, tally: Tally, due: float,
                    sent: float) -> None:
    """Send one request, note its times and outcome; a broken connection reopens later."""
    try:
        status, accepted = await conn.exchange(data)
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        tally.errors[type(exc).__name__] += 1
        conn.close()
        return
    tally.records.append((due, sent, clock(), status, accepted))


async def _open_worker(index: int, conn: Connection, requests: Requests, tally: Tally,
                       schedule: tuple[float, float, float, float]) -> None:
    """Take the next scheduled request, wait for its due time, send it; until the end."""
    start, rate, stop_at, offset = schedule
    counter = 0
    while True:
        number = tally.next_index
        tally.next_index += 1
        due = start + offset + number / rate
        if due >= stop_at:
            return
        delay = due - clock()
        if delay > 0:
            await asyncio.sleep(delay)
        sent = clock()
        data, counter = requests.render(number, index, counter)
        await _exchange(conn, data, tally, due, sent)


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
    if spec.keep_latencies:
        result["latencies_s"] = latencies
        result["send_lags_s"] = [r[1] - r[0] for r in window] if spec.rate else []
    return result


def merge(results: list[dict[str, Any]], duration: float) -> dict[str, Any]:
    """One phase's result from several load processes' (each kept its latencies)."""
    merged = dict(results[0])
    for key in ("acked_events_total", "window_requests_ok", "window_requests_not_ok",
                "window_events_ok", "connections"):
        merged[key] = sum(r[key] for r in results)
    for key in ("statuses", "errors"):
        merged[key] = dict(sum((Counter(r[key]) for r in results), Counter()))
    merged["offered_requests_per_s"] = (sum(r["offered_requests_per_s"] for r in results)
                                        if results[0]["offered_requests_per_s"] else None)
    merged["events_per_s"] = round(merged["window_events_ok"] / duration, 1)
    merged["requests_per_s"] = round(merged["window_requests_ok"] / duration, 1)
    merged["latency_ms"] = percentiles([x for r in results for x in r.pop("latencies_s")])
    lags = [x for r in results for x in r.pop("send_lags_s")]
    if lags:
        merged["send_lag_ms"] = percentiles(lags)
    merged.pop("latencies_s", None)
    merged.pop("send_lags_s", None)
    merged["load_processes"] = len(results)
    return merged


async def load(spec: Spec) -> dict[str, Any]:
    requests = Requests(spec)
    conns = [Connection(spec.port) for _ in range(spec.connections)]
    await asyncio.gather(*(c.open() for c in conns))
    tally = Tally()
    start = clock() + (spec.start_at - time.time() if spec.start_at else 0.05)
    stop_at = start + spec.warmup + spec.duration
    print("start", flush=True)  # the orchestrator times its profiling from this line
    if spec.rate:
        workers = [_open_worker(i, c, requests, tally, (start, spec.rate, stop_at, spec.offset))
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
    import gc

    import uvloop

    spec = Spec(**json.loads(raw))
    # A pause here would be counted as the server's latency (latency runs from each
    # request's scheduled send): full collections cost this process 12-15 ms each, and a
    # load run's garbage is freed by reference counting anyway.
    gc.disable()
    result = uvloop.run(load(spec))
    print(json.dumps(result), flush=True)


