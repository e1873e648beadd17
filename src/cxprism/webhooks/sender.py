"""One webhook POST, through the SSRF guard, with timeouts; never raises.

Every call goes through :func:`cxprism.kit.safe_http.safe_client`: private, loopback and
link-local destinations are refused at connect time (after DNS), and redirects are never
followed. The whole call, connect to last byte read, is bounded by ``TOTAL_TIMEOUT``; the
connect by ``CONNECT_TIMEOUT``. At most ``EXCERPT_BYTES`` of the answer are read.
"""

from __future__ import annotations

import asyncio
import time
import weakref

import httpx

from cxprism.kit.safe_http import UnsafeDestination, safe_client_pool
from cxprism.webhooks.schedule import AttemptResult

CONNECT_TIMEOUT = 5.0
TOTAL_TIMEOUT = 15.0
EXCERPT_BYTES = 1024
MAX_ERROR_CHARS = 1000
# One client (and connection pool) per event loop, since a client is bound to its loop;
# keyed weakly, so a closed loop's client goes with it and a new loop never inherits it.
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, list[httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary())


def http_clients() -> list[httpx.AsyncClient]:
    """A pool of small guarded clients (see ``safe_client_pool``): call ``i`` uses
    ``pool[i % len(pool)]``."""
    loop = asyncio.get_running_loop()
    clients = _clients.get(loop)
    if clients is None or any(c.is_closed for c in clients):
        clients = safe_client_pool(timeout=httpx.Timeout(TOTAL_TIMEOUT,
                                                         connect=CONNECT_TIMEOUT))
        _clients[loop] = clients
    return clients


def _clean(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a receiver's bytes can.
    return text.replace("\x00", "\ufffd")


async def _excerpt(response: httpx.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size >= EXCERPT_BYTES:
            break  # the rest is not read; the connection is closed rather than reused
    return _clean(b"".join(chunks)[:EXCERPT_BYTES].decode("utf-8", "replace"))


def _error_of(response: httpx.Response) -> str | None:
    status = response.status_code
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        location = response.headers.get("location", "(no Location)")
        return _clean(f"HTTP {status}: redirects are not followed (Location: {location})"
                      )[:MAX_ERROR_CHARS]
    if status == 410:
        return "HTTP 410 Gone: the endpoint asked for no more deliveries"
    return f"HTTP {status}"


async def post(client: httpx.AsyncClient, url: str, body: bytes,
               headers: dict[str, str]) -> AttemptResult:
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        async with asyncio.timeout(TOTAL_TIMEOUT):
            async with client.stream("POST", url, content=body, headers=headers) as response:
                excerpt = await _excerpt(response)
    except UnsafeDestination as exc:
        return AttemptResult(None, took(), _clean(f"destination refused: {exc.reason}"))
    except (TimeoutError, httpx.TimeoutException):
        return AttemptResult(None, took(), f"timed out (connect {CONNECT_TIMEOUT:g} s, "
                                           f"total {TOTAL_TIMEOUT:g} s)")
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ValueError) as exc:
        detail = str(exc) or type(exc).__name__
        return AttemptResult(None, took(),
                             _clean(f"{type(exc).__name__}: {detail}")[:MAX_ERROR_CHARS])
    return AttemptResult(response.status_code, took(), _error_of(response), excerpt or None,
                         response.headers.get("retry-after"))
