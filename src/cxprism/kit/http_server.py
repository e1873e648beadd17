"""The HTTP server's protocol: uvicorn's httptools protocol, whose writes are coalesced,
and which answers a fast path's plain requests itself (kit.direct_lane).

An ASGI response leaves uvicorn in two writes, its head at ``http.response.start`` and its
body at ``http.response.body``, and each write on a socket with room is a system call of
its own. For thousands of small responses a second (the tracking API's 200s) those two
system calls were a fifth of the server's time. Here the writes made in one turn of the
event loop leave together, in one call, at the end of that turn: a response whose head and
body are sent in one step (every fast path's, every buffered response's) costs one system
call and one segment on the wire. Order is kept, and a close or an end-of-file sends what
is pending first; nothing waits for more than the turn it was written in.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cxprism.kit import direct_lane


class CoalescingTransport:
    """A transport whose writes in one turn of ``loop`` go to ``transport`` as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] | None = None

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if self._pending is None:
            self._pending = [bytes(data)]
            self._loop.call_soon(self._flush)
        else:
            self._pending.append(bytes(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def write_eof(self) -> None:
        self._flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending = None  # abort: what was not sent is dropped, as the transport would
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        pending = sum(map(len, self._pending)) if self._pending else 0
        return self._transport.get_write_buffer_size() + pending

    def __getattr__(self, name: str) -> Any:  # reading, flow control, extra info: as is
        return getattr(self._transport, name)

    def _flush(self) -> None:
        pending, self._pending = self._pending, None
        if pending and not self._transport.is_closing():
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))


class ServerHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol on a :class:`CoalescingTransport`, which answers a fast
    path's plain requests itself (kit.direct_lane); give it to uvicorn as ``http=``. A
    connection upgraded to a WebSocket keeps the same transport."""

    answer_directly = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answerer = direct_lane.find_answerer(self.app) if self.answer_directly else None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def on_headers_complete(self) -> None:
        if self.answerer is None or not direct_lane.start(self, self.answerer):
            super().on_headers_complete()


class AsgiOnlyHttpProtocol(ServerHttpProtocol):
    """:class:`ServerHttpProtocol` with every request through ASGI (to compare lanes)."""

    answer_directly = False


def server_options() -> dict[str, Any]:
    """uvicorn's options as ``cxprism serve`` serves by default (live tests take them too):
    this protocol, forwarded headers from a proxy on this host trusted, no access log (an
    operator turns it on with CXPRISM_ACCESS_LOG; every request then goes the ASGI way, to
    be logged), and no ``server: uvicorn`` header (it tells a prober what to try)."""
    return {"http": ServerHttpProtocol, "proxy_headers": True, "server_header": False,
            "access_log": False}
