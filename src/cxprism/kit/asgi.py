"""Plain ASGI helpers for the fast paths that answer before the application's stack.

Thousands of small requests a second (Segment's tracking calls, providers' webhooks) come
to a few paths; routing them through every middleware and the router costs more than the
work itself. A fast path keeps the API's contracts on its own with these: the body size
limit (413), the error body and ``X-Request-ID``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from cxprism.kit.errors import AppError, BadRequest, PayloadTooLarge, error_body
from cxprism.kit.request_id import sane_or_new

Header = tuple[bytes, bytes]
Answer = tuple[int, bytes, list[Header]]  # status, JSON content, headers beyond the usual
NO_CONTENT = 204


class FastPath:
    """An ASGI front that answers the requests under ``prefix`` itself (``handle``) and
    passes everything else on to ``app``."""

    prefix: ClassVar[str]

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        headers = header_map(scope["headers"])
        await self.handle(scope, receive, send, headers, request_id_of(headers))

    async def handle(self, scope: Scope, receive: Receive, send: Send,
                     headers: dict[str, str], request_id: str) -> None:
        raise NotImplementedError


class AnsweringFastPath(FastPath):
    """A fast path whose answers are values (:data:`Answer`), the same on both lanes:
    through ASGI (``handle``, here) and, under ``cxprism serve``, from the HTTP protocol
    itself (kit.direct_lane), which reads the body its own way and asks the same three."""

    direct_prefix: ClassVar[bytes]  # ``prefix`` as the protocol sees the raw URL

    async def handle(self, scope: Scope, receive: Receive, send: Send,
                     headers: dict[str, str], request_id: str) -> None:
        method, path = scope["method"], scope["path"]
        answer = self.early_answer(method, path)
        if answer is None:
            try:
                body = await read_body(receive, self.max_bytes)
            except AppError as exc:
                answer = self.error_answer(exc)
            else:  # in front of the app (``cxprism serve``) or as its middleware (tests)
                answer = await self.answer(scope.get("app", self.app), method, path,
                                           headers, body)
        status, content, extra = answer
        await respond(send, status, content, request_id, extra=extra)

    def early_answer(self, method: str, path: str) -> Answer | None:
        """The answer before the body (a preflight, an unknown path), or None."""
        return None

    async def answer(self, app: Any, method: str, path: str, headers: dict[str, str],
                     body: bytes) -> Answer:
        """The answer to a whole request to ``app`` (whose ``state`` holds what serves
        it); never raises."""
        raise NotImplementedError

    def error_answer(self, error: Exception) -> Answer:
        """The answer to any error: an AppError's own (a 413 before the body was whole),
        else a 500; never raises."""
        raise NotImplementedError


def header_map(raw: Iterable[Header]) -> dict[str, str]:
    """A request's headers (an ASGI scope's, or as uvicorn's protocol parsed them) by
    lower-case name (the last of a repeated one)."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


def request_id_of(headers: Mapping[str, str]) -> str:
    """The caller's ``X-Request-ID`` when it is sane, else a new one."""
    return sane_or_new(headers.get("x-request-id", ""))


async def read_body(receive: Receive, max_bytes: int) -> bytes:
    """The whole body, refused (413) as soon as it grows past ``max_bytes``."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("The client went away before sending the whole body.")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise payload_too_large(max_bytes)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def payload_too_large(max_bytes: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"The request body is larger than the {max_bytes}-byte limit.")


def error_content(code: str, message: str, details: object = None) -> bytes:
    return orjson.dumps(error_body(code, message, details))


async def respond(send: Send, status: int, content: bytes, request_id: str, *,
                  content_type: str = "application/json",
                  extra: list[Header] | None = None) -> None:
    headers = answer_headers(status, content, request_id, extra or [], content_type)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def answer_headers(status: int, content: bytes, request_id: str, extra: list[Header],
                   content_type: str = "application/json") -> list[Header]:
    """A fast path's answer's headers, on either lane (kit.direct_lane writes them itself)."""
    headers = [(b"content-type", content_type.encode("latin-1"))]
    if status != NO_CONTENT:  # RFC 9110 8.6: a 204 has no Content-Length
        headers.append((b"content-length", str(len(content)).encode()))
    return [*headers, (b"x-request-id", request_id.encode("latin-1")), *extra]
