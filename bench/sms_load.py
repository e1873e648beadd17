"""The SMS benchmark's load generator (a separate process): signed Twilio webhooks.

Every request is a distinct inbound SMS (its own MessageSid, from one of ``senders``),
form-encoded and signed with the channel's auth token exactly as Twilio signs, prepared
before the clock starts; keep-alive HTTP/1.1 connections send them closed-loop. A 200
(TwiML) means the message is committed.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
import uuid
from typing import Any
from urllib.parse import urlencode

from cxprism.channels.twilio.signature import twilio_signature

HOST = "127.0.0.1"


def prepare(spec: dict[str, Any], count: int) -> list[bytes]:
    tag = uuid.uuid4().hex[:12]
    requests = []
    for number in range(count):
        params = {"AccountSid": spec["account_sid"], "MessageSid": f"SM{tag}{number:020d}",
                  "SmsSid": f"SM{tag}{number:020d}",
                  "From": f"+1415555{number % spec['senders']:04d}",
                  "To": spec["to"], "Body": f"Where is my order {number}? It was due Monday.",
                  "NumMedia": "0", "NumSegments": "1", "ApiVersion": "2010-04-01"}
        pairs = sorted(params.items())
        signature = twilio_signature(spec["auth_token"], spec["url"], pairs)
        body = urlencode(pairs).encode()
        head = (f"POST {spec['path']} HTTP/1.1\r\nHost: {HOST}:{spec['port']}\r\n"
                f"X-Twilio-Signature: {signature}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"User-Agent: TwilioProxy/1.1\r\nContent-Length: {len(body)}\r\n\r\n")
        requests.append(head.encode() + body)
    return requests


def floor_request(port: int) -> bytes:
    return f"GET /healthz HTTP/1.1\r\nHost: {HOST}:{port}\r\n\r\n".encode()


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    data: bytes) -> int:
    writer.write(data)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    lower = head.lower()
    at = lower.find(b"\r\ncontent-length:")
    length = int(lower[at + 17:lower.index(b"\r\n", at + 2)]) if at >= 0 else 0
    await reader.readexactly(length)
    return int(head[9:12])


async def _worker(spec: dict[str, Any], queue: list[bytes], stop_at: float,
                  records: list[tuple[float, float, int]]) -> None:
    reader, writer = await asyncio.open_connection(HOST, spec["port"])
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while queue and time.perf_counter() < stop_at:
            data = queue.pop()
            started = time.perf_counter()
            status = await _exchange(reader, writer, data)
            records.append((started, time.perf_counter(), status))
    finally:
        writer.close()


async def load(spec: dict[str, Any]) -> dict[str, Any]:
    total = int(spec["max_rate"] * (spec["warmup"] + spec["duration"]))
    queue = ([floor_request(spec["port"])] * total if spec.get("floor")
             else prepare(spec, total))
    queue.reverse()
    records: list[tuple[float, float, int]] = []
    start = time.perf_counter()
    stop_at = start + spec["warmup"] + spec["duration"]
    await asyncio.gather(*(_worker(spec, queue, stop_at, records)
                           for _ in range(spec["connections"])))
    window = [r for r in records if start + spec["warmup"] <= r[1] < stop_at]
    ok = sorted(r[1] - r[0] for r in window if r[2] == 200)

    def at(q: float) -> float:
        return round(ok[min(len(ok) - 1, int(q * len(ok)))] * 1000, 2)

    return {"requests_per_s": round(len(ok) / spec["duration"], 1),
            "acked_total": sum(1 for r in records if r[2] == 200),
            "not_ok_total": sum(1 for r in records if r[2] != 200),
            "ran_out": not queue and records[-1][1] < stop_at if records else False,
            "latency_ms": {"p50": at(0.5), "p99": at(0.99)} if ok else {}}


def load_main(raw: str) -> None:
    import uvloop

    print(json.dumps(uvloop.run(load(json.loads(raw)))), flush=True)
