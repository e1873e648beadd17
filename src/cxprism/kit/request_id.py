"""Request ids: taken from ``X-Request-ID`` when sane, made up otherwise, echoed back.

Every log line of a request can then be found from what a customer's support ticket
quotes, and the error body of a 500 carries the id.
"""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
log = logging.getLogger("cxprism.access")


class RequestId:
    """Echoes or makes the id; logs a line per request when ``access_log``, else only 5xx."""

    def __init__(self, app: ASGIApp, access_log: bool = False) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        offered = dict(scope["headers"]).get(HEADER.lower().encode(), b"").decode("latin-1")
        request_id = offered if SANE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log or status >= 500:
                log.info("%s %s %d %.1fms id=%s", scope["method"], scope["path"], status,
                         (time.perf_counter() - started) * 1000, request_id)
