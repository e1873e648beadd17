"""The direct lane on a real socket: which requests take it, and that HTTP holds on it."""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import orjson
import pytest

from cxprism.kit.asgi import Answer, AnsweringFastPath, respond
from cxprism.kit.errors import AppError, NotFound
from tests.fixtures.live import serve_in_loop

LIMIT = 1000


class EchoPath(AnsweringFastPath):
    """Answers ``/d/...`` with what it got and the lane that answered it."""

    prefix = "/d/"
    direct_prefix = b"/d/"

    async def handle(self, scope: Any, receive: Any, send: Any, headers: dict[str, str],
                     request_id: str) -> None:
        """The ASGI lane: marked, so that the answer says which lane it came by."""
        await super().handle(scope, receive, send, {**headers, "x-lane": "asgi"}, request_id)

    def early_answer(self, method: str, path: str) -> Answer | None:
        return self.error_answer(NotFound("no such thing")) if path == "/d/early" else None

    async def answer(self, app: Any, method: str, path: str, headers: dict[str, str],
                     body: bytes) -> Answer:
        await asyncio.sleep(0.01)  # as a commit would: the answer comes in a later turn
        lane = headers.get("x-lane", "direct")
        return 200, orjson.dumps({"lane": lane, "path": path, "size": len(body)}), [
            (b"x-lane", lane.encode())]

    def error_answer(self, error: Exception) -> Answer:
        if isinstance(error, AppError):
            return error.status_code, orjson.dumps({"code": error.code}), []
        return 500, orjson.dumps({"error": {"code": "internal_error"}}), []


class BrokenPath(EchoPath):
    async def answer(self, app: Any, method: str, path: str, headers: dict[str, str],
                     body: bytes) -> Answer:
        raise RuntimeError("the answerer broke")


SERVING_CONTEXT: contextvars.ContextVar[str] = contextvars.ContextVar("serving", default="none")


class ContextPath(EchoPath):
    """Answers with the value of SERVING_CONTEXT that its answering task sees."""

    async def answer(self, app: Any, method: str, path: str, headers: dict[str, str],
                     body: bytes) -> Answer:
        return 200, SERVING_CONTEXT.get().encode(), []


async def _inner(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] == "http":
        await respond(send, 200, b'{"lane":"app"}', "inner")


@pytest.fixture
async def port() -> Any:
    async with serve_in_loop(EchoPath(_inner, LIMIT)) as base:
        yield int(base.rsplit(":", 1)[1])


class Client:
    """One raw HTTP/1.1 connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Client:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def answer(self) -> tuple[int, dict[str, str], bytes]:
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 5)
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:] if ": " in line)
        body = await asyncio.wait_for(
            self.reader.readexactly(int(headers.get("content-length", "0"))), 5)
        return int(lines[0].split()[1]), headers, body

    async def ask(self, request: bytes) -> tuple[int, dict[str, str], bytes]:
        self.writer.write(request)
        return await self.answer()

    async def closed_by_server(self) -> bool:
        return await asyncio.wait_for(self.reader.read(1), 5) == b""


def post(path: str, body: bytes = b"{}", extra: str = "", version: str = "1.1") -> bytes:
    return (f"POST {path} HTTP/{version}\r\nHost: x\r\nContent-Length: {len(body)}\r\n"
            f"{extra}\r\n").encode() + body


async def test_plain_posts_take_the_direct_lane_and_keep_the_connection(port: int) -> None:
    client = await Client.open(port)
    for n in range(3):
        status, headers, body = await client.ask(post("/d/x", b"a" * n))
        assert status == 200
        assert orjson.loads(body) == {"lane": "direct", "path": "/d/x", "size": n}
        assert headers["content-type"] == "application/json"
        assert len(headers["x-request-id"]) == 32 and "date" in headers
        assert "server" not in headers and "connection" not in headers


@pytest.mark.parametrize(("request_bytes", "lane"), [
    (b"GET /d/x HTTP/1.1\r\nHost: x\r\n\r\n", "asgi"),
    (post("/d/x?debug=1"), "asgi"),
    (post("/d/%78"), "asgi"),
    (post("/elsewhere"), "app"),
])
async def test_anything_but_a_plain_post_goes_the_asgi_way(port: int, request_bytes: bytes,
                                                          lane: str) -> None:
    client = await Client.open(port)
    _, _, body = await client.ask(request_bytes)
    assert orjson.loads(body)["lane"] == lane


async def test_expect_continue_is_answered_by_the_asgi_lane(port: int) -> None:
    client = await Client.open(port)
    client.writer.write(b"POST /d/x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                        b"Expect: 100-continue\r\n\r\n")
    interim = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), 5)
    assert interim.startswith(b"HTTP/1.1 100")
    client.writer.write(b"abc")
    status, _, body = await client.answer()
    assert status == 200 and orjson.loads(body) == {"lane": "asgi", "path": "/d/x", "size": 3}


async def test_a_sane_request_id_is_echoed_and_an_insane_one_replaced(port: int) -> None:
    client = await Client.open(port)
    _, headers, _ = await client.ask(post("/d/x", extra="X-Request-ID: ticket-4711\r\n"))
    assert headers["x-request-id"] == "ticket-4711"
    _, headers, _ = await client.ask(post("/d/x", extra="X-Request-ID: a b\r\n"))
    assert headers["x-request-id"] != "a b" and len(headers["x-request-id"]) == 32


async def test_pipelined_requests_are_answered_whole_and_in_order(port: int) -> None:
    client = await Client.open(port)
    client.writer.write(post("/d/1", b"x") + post("/d/2", b"yy") + post("/elsewhere")
                        + post("/d/3", b"zzz"))
    answers = [orjson.loads((await client.answer())[2]) for _ in range(4)]
    assert [a.get("path") for a in answers] == ["/d/1", "/d/2", None, "/d/3"]
    assert answers[0]["lane"] == "direct"  # the rest waited behind it: the ASGI lane's queue


async def test_a_body_that_comes_in_pieces_is_read_whole(port: int) -> None:
    client = await Client.open(port)
    client.writer.write(b"POST /d/x HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
    await asyncio.sleep(0.05)
    client.writer.write(b"defghij")
    status, _, body = await client.answer()
    assert status == 200 and orjson.loads(body)["size"] == 10


async def test_an_oversized_body_is_refused_and_the_connection_goes_on(port: int) -> None:
    client = await Client.open(port)
    status, _, body = await client.ask(post("/d/x", b"a" * (LIMIT + 1)))
    assert (status, orjson.loads(body)) == (413, {"code": "payload_too_large"})
    status, _, body = await client.ask(post("/d/x", b"a"))
    assert status == 200 and orjson.loads(body)["size"] == 1


async def test_an_early_answer_does_not_wait_for_the_body(port: int) -> None:
    client = await Client.open(port)
    client.writer.write(b"POST /d/early HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\nab")
    status, _, _ = await client.answer()  # with 498 bytes of the body still to come
    assert status == 404
    client.writer.write(b"c" * 498)
    status, _, body = await client.ask(post("/d/x", b"a"))
    assert status == 200 and orjson.loads(body)["size"] == 1


async def test_http_1_0_is_answered_and_closed(port: int) -> None:
    client = await Client.open(port)
    status, headers, _ = await client.ask(post("/d/x", version="1.0"))
    assert status == 200 and headers["connection"] == "close"
    assert await client.closed_by_server()


async def test_a_client_gone_mid_body_leaves_the_server_serving(port: int) -> None:
    client = await Client.open(port)
    client.writer.write(b"POST /d/x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    await asyncio.sleep(0.05)
    client.writer.close()
    await asyncio.sleep(0.05)
    status, _, _ = await (await Client.open(port)).ask(post("/d/x"))
    assert status == 200


async def test_an_answerer_that_raises_gets_a_500_and_a_closed_connection(
        caplog: pytest.LogCaptureFixture) -> None:
    async with serve_in_loop(BrokenPath(_inner, LIMIT)) as base:
        client = await Client.open(int(base.rsplit(":", 1)[1]))
        status, headers, body = await client.ask(post("/d/x"))
        assert status == 500 and headers["connection"] == "close"
        assert orjson.loads(body)["error"]["code"] == "internal_error"
        assert await client.closed_by_server()
    assert "a direct answer to POST /d/x failed" in caplog.text


async def test_a_body_past_the_protocols_high_water_mark_is_read_whole() -> None:
    """The protocol stops reading past 64 KiB until the cycle asks for more."""
    size = 300_000
    async with serve_in_loop(EchoPath(_inner, 1_000_000)) as base:
        client = await Client.open(int(base.rsplit(":", 1)[1]))
        status, headers, body = await client.ask(post("/d/big", b"b" * size))
    assert status == 200 and headers["x-lane"] == "direct"
    assert orjson.loads(body)["size"] == size


async def test_with_the_access_log_on_every_request_goes_the_asgi_way_to_be_logged() -> None:
    async with serve_in_loop(EchoPath(_inner, LIMIT), access_log=True) as base:
        client = await Client.open(int(base.rsplit(":", 1)[1]))
        _, _, body = await client.ask(post("/d/x"))
    assert orjson.loads(body)["lane"] == "asgi"


@pytest.mark.parametrize(("reset", "seen"), [(True, b"none"), (False, b"the server's")])
async def test_reset_contextvars_gives_each_answer_an_empty_context_as_uvicorn_does(
        reset: bool, seen: bytes) -> None:
    """uvicorn's opt-in: context set around the server (instrumentation, the lifespan)
    does not leak into the tasks that answer requests; without it, they inherit it."""
    SERVING_CONTEXT.set("the server's")
    async with serve_in_loop(ContextPath(_inner, LIMIT), reset_contextvars=reset) as base:
        client = await Client.open(int(base.rsplit(":", 1)[1]))
        status, _, body = await client.ask(post("/d/x"))
    assert (status, body) == (200, seen)


class FakeFlow:
    def __init__(self) -> None:
        self.write_paused = True
        self.drained = asyncio.Event()

    async def drain(self) -> None:
        await self.drained.wait()

    def resume_reading(self) -> None:
        pass


class FakeTransport:
    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def _cycle(answerer: Any) -> tuple[Any, Any]:
    from types import SimpleNamespace

    from cxprism.kit.direct_lane import DirectCycle

    protocol = SimpleNamespace(flow=FakeFlow(), transport=FakeTransport(),
                               server_state=SimpleNamespace(default_headers=[]),
                               on_response_complete=lambda: None)
    cycle = DirectCycle(protocol, answerer, "POST", "/d/x", {},  # type: ignore[arg-type]
                        keep_alive=True)
    cycle.more_body = False
    return cycle, protocol


async def test_an_answer_waits_while_the_client_does_not_read_what_it_was_sent() -> None:
    cycle, protocol = _cycle(EchoPath(_inner, LIMIT))
    task = asyncio.create_task(cycle.run())
    await asyncio.sleep(0.05)  # answered, but the transport's buffer is full
    assert protocol.transport.written == [] and not task.done()
    protocol.flow.drained.set()
    await task
    assert len(protocol.transport.written) == 1 and cycle.response_complete


async def test_an_answer_that_cannot_be_written_closes_the_connection(
        caplog: pytest.LogCaptureFixture) -> None:
    class Unwritable(EchoPath):
        async def answer(self, app: Any, method: str, path: str, headers: dict[str, str],
                         body: bytes) -> Answer:
            return 999, b"{}", []  # no such status line

    cycle, protocol = _cycle(Unwritable(_inner, LIMIT))
    protocol.flow.write_paused = False
    await cycle.run()
    assert protocol.transport.closed and protocol.transport.written == []
    assert "could not be sent" in caplog.text
