"""The server's coalescing protocol: a response's writes leave together, in order."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from cxprism.kit.http_server import CoalescingTransport, ServerHttpProtocol
from tests.fixtures.live import serve_in_loop


class RecordingTransport(asyncio.Transport):
    """The calls a transport gets, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, Any]] = []
        self.closing = False

    def write(self, data: Any) -> None:
        self.calls.append(("write", bytes(data)))

    def close(self) -> None:
        self.calls.append(("close", None))
        self.closing = True

    def abort(self) -> None:
        self.calls.append(("abort", None))
        self.closing = True

    def write_eof(self) -> None:
        self.calls.append(("write_eof", None))

    def is_closing(self) -> bool:
        return self.closing

    def get_write_buffer_size(self) -> int:
        return 7

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5)}.get(name, default)


async def _turn() -> None:
    await asyncio.sleep(0)


async def test_writes_in_one_turn_leave_as_one_and_in_order() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(bytearray(b"body"))
    transport.writelines([b"-", memoryview(b"more")])
    transport.write(b"")
    assert real.calls == []  # nothing before the turn ends
    assert transport.get_write_buffer_size() == 7 + 19 + 4 + 5
    await _turn()
    assert real.calls == [("write", b"HTTP/1.1 200 OK\r\n\r\nbody-more")]
    transport.write(b"next")
    await _turn()
    assert real.calls[-1] == ("write", b"next")
    assert transport.get_extra_info("peername") == ("127.0.0.1", 5)  # the rest as is


async def test_close_and_end_of_file_send_what_is_pending_first_and_abort_drops_it() -> None:
    real = RecordingTransport()
    transport = CoalescingTransport(real, asyncio.get_running_loop())
    transport.write(b"last words")
    transport.write_eof()
    transport.write(b"bye")
    transport.close()
    await _turn()
    assert real.calls == [("write", b"last words"), ("write_eof", None),
                          ("write", b"bye"), ("close", None)]
    aborted = RecordingTransport()
    transport = CoalescingTransport(aborted, asyncio.get_running_loop())
    transport.write(b"never")
    transport.abort()
    await _turn()
    assert aborted.calls == [("abort", None)]


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["path"] == "/stream":  # a streamed answer, a part per turn
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two,", b"three"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
            await asyncio.sleep(0)
        await send({"type": "http.response.body", "body": b""})
        return
    content = orjson.dumps({"path": scope["path"], "echo": body.decode()})
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode())]})
    await send({"type": "http.response.body", "body": content})


async def _exchange(port: int, request: bytes, until: bytes, count: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    seen = b""
    while seen.count(until) < count:
        chunk = await asyncio.wait_for(reader.read(65536), 5)
        assert chunk, f"connection closed early after {seen!r}"
        seen += chunk
    writer.close()
    return seen


async def test_a_real_server_answers_pipelined_and_streamed_requests_whole() -> None:
    async with serve_in_loop(_app, http=ServerHttpProtocol) as base:
        port = int(base.rsplit(":", 1)[1])
        pipelined = b"".join(
            b"POST /echo/%d HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nab%d" % (n, n)
            for n in range(3))
        answers = await _exchange(port, pipelined, b'"}', 3)
        assert [answers.index(b'"/echo/%d"' % n) for n in range(3)] == sorted(
            answers.index(b'"/echo/%d"' % n) for n in range(3))  # in request order
        assert answers.count(b"HTTP/1.1 200 OK") == 3
        streamed = await _exchange(port, b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n",
                                   b"0\r\n\r\n", 1)
        assert b"transfer-encoding: chunked" in streamed
        assert streamed.endswith(b"4\r\none,\r\n4\r\ntwo,\r\n5\r\nthree\r\n0\r\n\r\n")


async def test_served_as_cxprism_serve_serves_no_server_banner_but_a_date() -> None:
    async with serve_in_loop(_app) as base:  # with server_options(), as `cxprism serve`
        port = int(base.rsplit(":", 1)[1])
        answer = await _exchange(port, b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n", b'"}', 1)
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert b"\r\nserver:" not in head
    assert b"\r\ndate:" in head


async def test_one_response_is_one_write_on_the_socket(monkeypatch: Any) -> None:
    writes: list[bytes] = []
    real_flush = CoalescingTransport._flush

    def counting_flush(self: CoalescingTransport) -> None:
        if self._pending:
            writes.append(b"".join(self._pending))
        real_flush(self)

    monkeypatch.setattr(CoalescingTransport, "_flush", counting_flush)
    async with serve_in_loop(_app, http=ServerHttpProtocol) as base:
        port = int(base.rsplit(":", 1)[1])
        await _exchange(port, b"GET /one HTTP/1.1\r\nHost: x\r\n\r\n", b'"}', 1)
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 200 OK") and writes[0].endswith(b'"echo":""}')
