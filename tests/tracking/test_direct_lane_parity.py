"""The Segment API answers the same on the direct lane as through ASGI, on a real socket."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import orjson

from cxprism.app import create_server_app
from cxprism.config import Settings
from cxprism.kit.db import Database
from cxprism.kit.http_server import AsgiOnlyHttpProtocol, ServerHttpProtocol
from tests.fixtures.builders import Tenant
from tests.fixtures.live import serve_in_thread
from tests.tracking.helpers import Source, make_source, stored_count

VARYING = {"date", "x-request-id"}  # their values differ per answer, not their presence


def _message(lane: str, n: int, **fields: Any) -> dict[str, Any]:
    return {"type": "track", "event": "Viewed", "userId": "u-1",
            "messageId": f"{lane}-{n}", **fields}


def _requests(lane: str, source: Source, limit: int) -> list[tuple[str, str, dict[str, str],
                                                                   bytes]]:
    json = {**source.basic, "Content-Type": "application/json"}
    batch = {"batch": [_message(lane, 2), {"type": "track", "event": "No one"},
                       _message(lane, 3)]}
    return [
        ("POST", "/v1/track", json, orjson.dumps(_message(lane, 1))),
        ("POST", "/v1/batch", json, orjson.dumps(batch)),
        ("POST", "/v1/batch", {**json, "Content-Encoding": "gzip"},
         gzip.compress(orjson.dumps({"batch": [_message(lane, 4)]}))),
        ("POST", "/v1/track", {**json, "Content-Encoding": "gzip"}, b"not gzip"),
        ("POST", "/v1/track", json, b"{not json"),
        ("POST", "/v1/track", {"Authorization": "Basic d2tfbm9wZTo="},
         orjson.dumps(_message(lane, 5))),
        ("POST", "/v1/track", json, orjson.dumps({"type": "track", "event": "No one"})),
        ("POST", "/v1/track", json, b"x" * (limit + 1)),
        ("OPTIONS", "/v1/batch", {"Origin": "https://shop.example",
                                  "Access-Control-Request-Method": "POST"}, b""),
        ("GET", "/v1/track", {}, b""),
        ("POST", "/v1/nope", json, b"{}"),
    ]


async def _answers(settings: Settings, protocol: type, lane: str,
                   source: Source) -> list[tuple[int, Any, set[str]]]:
    answers = []
    with serve_in_thread(create_server_app(settings, run_workers=False),
                         http=protocol) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            for method, path, headers, body in _requests(lane, source,
                                                         settings.max_request_bytes):
                response = await client.request(method, path, headers=headers, content=body)
                content = response.json() if response.content else None
                answers.append((response.status_code, content,
                                set(response.headers) - VARYING))
    return answers


async def test_every_answer_is_the_same_on_both_lanes(settings: Settings, db: Database,
                                                      tenant: Tenant) -> None:
    source = await make_source(db, tenant)
    direct = await _answers(settings, ServerHttpProtocol, "direct", source)
    through_asgi = await _answers(settings, AsgiOnlyHttpProtocol, "asgi", source)
    assert direct == through_asgi
    assert [status for status, _, _ in direct] == [
        200, 200, 200, 400, 400, 401, 400, 413, 204, 405, 404]
    assert direct[1][1]["rejected"][0]["index"] == 1
    assert "content-length" not in direct[8][2]  # RFC 9110: not on a 204 (either lane: ==)
    assert "content-length" in direct[0][2]
    assert await stored_count(db, tenant.workspace_id) == 2 * 4  # each lane's four
