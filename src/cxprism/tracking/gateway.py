"""The Segment HTTP edge: body decoding, write-key authentication, and the ingestor.

Kept as plain functions over bytes and headers: the hot path does no request-model
parsing. The body is read from its bytes (tracking.wire); ``parse_json`` parses whole only
bodies not of the plain shape, for their exact errors.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import time
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import orjson

from cxprism.kit.db import Database
from cxprism.kit.errors import BadRequest, PayloadTooLarge, Unauthorized, UnsupportedMediaType
from cxprism.kit.security import digest_secret
from cxprism.tracking.ingest import Ingestor
from cxprism.workspaces.auth import SourceCredential, source_for_write_key

KEY_CACHE_SECONDS = 30.0
KEY_REFRESH_SECONDS = 20.0  # an entry this old is looked up again in the background
KEY_CACHE_SIZE = 10_000

log = logging.getLogger("cxprism.tracking")


class Gateway:
    """Per application: the ingestor and a cache of valid write keys.

    Only valid keys are cached, for :data:`KEY_CACHE_SECONDS`; a revoked source is still
    refused at once, because every commit re-checks its sources (see tracking.ingest).
    Concurrent requests with a key not in the cache share one lookup, and a key in use is
    looked up again in the background before its entry expires: hundreds of requests a
    second must not each ask the database at once when an entry runs out (on SQLite every
    lookup also waits its turn behind the ingestor's commits).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self.ingestor = Ingestor(db)
        self._keys: OrderedDict[str, tuple[float, SourceCredential]] = OrderedDict()
        self._lookups: dict[str, asyncio.Task[SourceCredential]] = {}

    async def credential(self, write_key: str) -> SourceCredential:
        digest = digest_secret(write_key)
        cached = self._keys.get(digest)
        if cached is not None:
            age = time.monotonic() - cached[0]
            if age < KEY_CACHE_SECONDS:
                if age >= KEY_REFRESH_SECONDS:
                    self._look_up(write_key, digest)  # for the requests to come
                return cached[1]
        return await asyncio.shield(self._look_up(write_key, digest))

    def _look_up(self, write_key: str, digest: str) -> asyncio.Task[SourceCredential]:
        """The key's lookup in flight, or a new one."""
        task = self._lookups.get(digest)
        if task is None:
            task = asyncio.create_task(self._fetch(write_key, digest), name="write-key-lookup")
            self._lookups[digest] = task
            task.add_done_callback(functools.partial(self._looked_up, digest))
        return task

    async def _fetch(self, write_key: str, digest: str) -> SourceCredential:
        started = time.monotonic()  # the entry holds from the question, not the answer
        try:
            async with self.db.session() as session:
                credential = await source_for_write_key(session, write_key)
        except Unauthorized:
            self._keys.pop(digest, None)  # revoked meanwhile: no longer valid
            raise
        self._keys[digest] = (started, credential)
        self._keys.move_to_end(digest)
        while len(self._keys) > KEY_CACHE_SIZE:
            self._keys.popitem(last=False)
        return credential

    def _looked_up(self, digest: str, task: asyncio.Task[SourceCredential]) -> None:
        self._lookups.pop(digest, None)
        # Retrieved here, so a background refresh's failure is never "never retrieved"; the
        # requests that waited on it got it themselves.
        error = None if task.cancelled() else task.exception()
        if error is not None and not isinstance(error, Unauthorized):
            log.warning("a write key lookup failed: %r", error)


def gateway_of(state: Any) -> Gateway:
    """The application's gateway (``app.state``), made on first use."""
    gateway: Gateway | None = getattr(state, "tracking_gateway", None)
    if gateway is None:
        gateway = state.tracking_gateway = Gateway(state.db)
    return gateway


async def close_gateway(state: Any) -> None:
    """Answer every queued request and close the ingestor's pool (application shutdown)."""
    gateway: Gateway | None = getattr(state, "tracking_gateway", None)
    if gateway is not None:
        await gateway.ingestor.close()


def parse_json(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}", code="malformed_json") from None


def body_of(body: bytes, headers: Mapping[str, str], limit: int) -> bytes:
    """The body's bytes with any gzip undone within ``limit`` bytes (no zip bombs)."""
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip":
        body = _gunzip(body, limit)
    elif encoding not in ("", "identity"):
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; "
                                  f"send gzip or no encoding.")
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is {len(body)} bytes; the limit here is {limit}.")
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"The gzip body cannot be decoded: {exc}", code="bad_gzip") from None
    if len(data) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes once decompressed.")
    if not decompressor.eof:
        raise BadRequest("The gzip body is truncated.", code="bad_gzip")
    return data


def write_key_of(headers: Mapping[str, str], body_key: object) -> str:
    """Segment's ways: Basic auth with the key as user name, a bearer token, or the body's
    ``writeKey`` (``body_key``)."""
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "basic":
            return _basic_user(value.strip())
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        raise Unauthorized("Authorization must be 'Basic base64(<write key>:)' or "
                           "'Bearer <write key>'.")
    if isinstance(body_key, str) and body_key:
        return body_key
    raise Unauthorized("Send the source's write key: HTTP Basic with the key as the user name.")


def _basic_user(value: str) -> str:
    try:
        decoded = base64.b64decode(value, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("The Basic credentials are not valid base64.") from None
    user = decoded.partition(":")[0]
    if not user:
        raise Unauthorized("The Basic credentials carry no write key as the user name.")
    return user
