"""A minimal, fast fake of Twilio's Messages API for the outbound benchmark.

    python bench/fake_provider.py PORT

One asyncio HTTP/1.1 server with keep-alive: ``POST .../Messages.json`` answers 201 with
a message resource (``sid``, ``status: queued``) and counts each
``I-Twilio-Idempotency-Token`` it sees; ``GET /stats`` answers ``{"requests", "keys",
"duplicates"}``. It is deliberately cheap, so the benchmark measures cxprism, not the fake.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

_seen: dict[str, int] = {}
_counts = {"requests": 0}


def _response(status: str, body: bytes) -> bytes:
    head = (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n\r\n")
    return head.encode() + body


def _created(key: str | None) -> bytes:
    _counts["requests"] += 1
    if key:
        _seen[key] = _seen.get(key, 0) + 1
    sid = "SM" + uuid.uuid4().hex
    return _response("201 Created", json.dumps({"sid": sid, "status": "queued"}).encode())


def _stats() -> bytes:
    duplicates = sum(1 for n in _seen.values() if n > 1)
    body = {"requests": _counts["requests"], "keys": len(_seen), "duplicates": duplicates}
    return _response("200 OK", json.dumps(body).encode())


async def _handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in
                       (line.partition(":") for line in lines[1:] if line)}
            length = int(headers.get("content-length", "0"))
            if length:
                await reader.readexactly(length)
            if lines[0].startswith("GET /stats"):
                writer.write(_stats())
            else:
                writer.write(_created(headers.get("i-twilio-idempotency-token")))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_handle, "127.0.0.1", port, backlog=1024)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
