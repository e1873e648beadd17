"""The email benchmark's load generator (a separate process): mail over real SMTP sessions.

Each connection keeps one SMTP session open and sends one message after another (as a
relay delivering to us would); a message counts when the server answers 250, which for
cxprism means it is committed. Closed loop; latency is per message (DATA to 250).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiosmtplib

HOST = "127.0.0.1"
BODY = ("Hello,\r\n\r\nMy order has not arrived yet and the tracking page has not changed "
        "for three days. Could you look into it?\r\n\r\n" + "Thanks, and best regards.\r\n" * 20)


def mail(number: int, tag: str, to: str) -> bytes:
    customer = number % 1000
    return (f"From: Customer {customer} <customer{customer}@bench.test>\r\nTo: {to}\r\n"
            f"Subject: Order {number} has not arrived\r\n"
            f"Message-ID: <{tag}-{number}@bench.test>\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{BODY}").encode()


async def _worker(index: int, spec: dict[str, Any], tag: str, stop_at: float,
                  records: list[tuple[float, float, bool]]) -> None:
    client = aiosmtplib.SMTP(hostname=HOST, port=spec["port"], timeout=60)
    await client.connect()
    number = index
    try:
        while time.perf_counter() < stop_at:
            data = mail(number, tag, spec["to"])
            number += spec["connections"]
            started = time.perf_counter()
            try:
                await client.sendmail(f"customer{number % 1000}@bench.test", [spec["to"]], data)
                records.append((started, time.perf_counter(), True))
            except aiosmtplib.SMTPException:
                records.append((started, time.perf_counter(), False))
                if not client.is_connected:
                    await client.connect()
    finally:
        if client.is_connected:
            await client.quit()


async def load(spec: dict[str, Any]) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:10]
    records: list[tuple[float, float, bool]] = []
    start = time.perf_counter()
    stop_at = start + spec["warmup"] + spec["duration"]
    await asyncio.gather(*(_worker(i, spec, tag, stop_at, records)
                           for i in range(spec["connections"])))
    window = [r for r in records if start + spec["warmup"] <= r[1] < stop_at]
    ok = [r for r in window if r[2]]
    latencies = sorted(r[1] - r[0] for r in ok)

    def at(q: float) -> float:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {"messages_per_s": round(len(ok) / spec["duration"], 1),
            "acked_total": sum(1 for r in records if r[2]),
            "failed_total": sum(1 for r in records if not r[2]),
            "latency_ms": {"p50": at(0.5), "p99": at(0.99)} if latencies else {}}


def load_main(raw: str) -> None:
    print(json.dumps(asyncio.run(load(json.loads(raw)))), flush=True)
