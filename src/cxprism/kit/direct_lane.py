"""The direct lane: a fast path's requests answered by the HTTP protocol itself, not ASGI.

Thousands of small tracking requests a second come to one fast path (kit.asgi.FastPath).
Through uvicorn each also costs an ASGI scope, an ``asyncio.Event``, a request-response
cycle, the proxy-headers middleware, the receive and send message dicts and two regex
checks per response header: together about a third of the server's time per request.
Here the protocol (kit.http_server) hands a fast path's request, parsed by the same
httptools parser, straight to the :class:`~cxprism.kit.asgi.AnsweringFastPath` in front of
the app, and writes its answer with the same headers the ASGI lane sends.

Only plain requests take the lane: a POST or OPTIONS under the answerer's prefix, with no
query, no percent-escape, no upgrade, no ``Expect: 100-continue``, and none pipelined
behind an unanswered one. Everything else, and every server option that changes what
a request sees (a root path, a concurrency limit, uvicorn's access log), goes the ASGI way.

The cycle keeps the attributes uvicorn's protocol reads from its own (``body``,
``more_body``, ``message_event``, ``response_complete``, ``disconnected``, ``keep_alive``),
so the protocol's body, flow-control, disconnect, shutdown and keep-alive handling apply
to both lanes unchanged.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import TYPE_CHECKING, Any

from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from cxprism.kit.asgi import (
    Answer,
    AnsweringFastPath,
    answer_headers,
    header_map,
    payload_too_large,
    request_id_of,
)

if TYPE_CHECKING:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("cxprism.http")
_METHODS = (b"POST", b"OPTIONS")
_NOT_PLAIN = (b"?", b"%", b"#")


def find_answerer(app: Any) -> AnsweringFastPath | None:
    """The fast path in front of ``app`` as served, through the middleware uvicorn adds
    that does nothing for it (forwarded headers: a fast path does not read the client's
    address); None if something else stands in front."""
    while isinstance(app, ProxyHeadersMiddleware):
        app = app.app
    return app if isinstance(app, AnsweringFastPath) else None


def start(protocol: HttpToolsProtocol, answerer: AnsweringFastPath) -> bool:
    """Take the request whose headers ``protocol`` just parsed, if it is plain; False to
    leave it to the ASGI lane."""
    parser, url = protocol.parser, protocol.url
    method = parser.get_method()
    if (method not in _METHODS or not url.startswith(answerer.direct_prefix)
            or any(mark in url for mark in _NOT_PLAIN) or parser.should_upgrade()
            or protocol.expect_100_continue or protocol.root_path
            or protocol.limit_concurrency is not None or protocol.config.access_log
            or not (protocol.cycle is None or protocol.cycle.response_complete)):
        return False
    keep_alive = parser.get_http_version() != "1.0" and parser.should_keep_alive()
    cycle = DirectCycle(protocol, answerer, method.decode("ascii"), url.decode("ascii"),
                        header_map(protocol.headers), keep_alive=keep_alive)
    protocol.cycle = cycle  # type: ignore[assignment]  # quacks as uvicorn's cycle
    context = contextvars.Context() if protocol.config.reset_contextvars else None
    task = protocol.loop.create_task(cycle.run(), context=context)  # as uvicorn starts one
    task.add_done_callback(protocol.tasks.discard)
    protocol.tasks.add(task)
    return True


class DirectCycle:
    """One request on the direct lane, from its body to its answer."""

    def __init__(self, protocol: HttpToolsProtocol, answerer: AnsweringFastPath, method: str,
                 path: str, headers: dict[str, str], *, keep_alive: bool) -> None:
        self.protocol = protocol
        self.answerer = answerer
        self.method = method
        self.path = path
        self.headers = headers
        self.keep_alive = keep_alive
        # What uvicorn's protocol reads and writes on its cycle:
        self.body = bytearray()
        self.more_body = True
        self.message_event = asyncio.Event()
        self.response_complete = False
        self.disconnected = False

    async def run(self) -> None:
        try:
            answer = await self._answer()
            if answer is not None:
                await self._send(answer, request_id_of(self.headers))
        except Exception:  # an answer that cannot be written: never leave the client waiting
            log.exception("the direct answer to %s %s could not be sent", self.method,
                          self.path)
            self.protocol.transport.close()

    async def _answer(self) -> Answer | None:
        try:
            answer = self.answerer.early_answer(self.method, self.path)
            return answer if answer is not None else await self._answer_body()
        except Exception as exc:
            log.exception("a direct answer to %s %s failed", self.method, self.path)
            self.keep_alive = False
            return self.answerer.error_answer(exc)

    async def _answer_body(self) -> Answer | None:
        """The answer once the body is whole; None if the client went away first."""
        limit, chunks, size = self.answerer.max_bytes, [], 0
        while True:
            # Taken as it comes, as uvicorn's receive() does: the protocol stops reading
            # while more than its high-water mark waits here.
            chunks.append(bytes(self.body))
            size += len(self.body)
            self.body = bytearray()
            if not self.more_body or self.disconnected or size > limit:
                break
            self.protocol.flow.resume_reading()
            await self.message_event.wait()
            self.message_event.clear()
        if self.disconnected:
            return None
        if size > limit:
            return self.answerer.error_answer(payload_too_large(limit))
        return await self.answerer.answer(self.answerer.app, self.method, self.path,
                                          self.headers, b"".join(chunks))

    async def _send(self, answer: Answer, request_id: str) -> None:
        flow = self.protocol.flow
        if flow.write_paused and not self.disconnected:
            await flow.drain()  # a client that does not read its answers is not sent more
        transport = self.protocol.transport
        if self.disconnected or transport.is_closing():
            return
        transport.write(self._head(answer, request_id) + answer[1])
        self.response_complete = True
        self.message_event.set()
        if not self.keep_alive:
            transport.close()
        self.protocol.on_response_complete()

    def _head(self, answer: Answer, request_id: str) -> bytes:
        """The head the ASGI lane sends for the same answer (uvicorn's default headers,
        then the fast path's), and ``connection: close`` when the connection ends."""
        status, content, extra = answer
        headers = [*self.protocol.server_state.default_headers,
                   *answer_headers(status, content, request_id, extra)]
        if not self.keep_alive:
            headers.append((b"connection", b"close"))
        return b"".join([STATUS_LINE[status], *(b"%s: %s\r\n" % pair for pair in headers),
                         b"\r\n"])
