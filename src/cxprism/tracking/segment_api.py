"""Segment's HTTP Tracking API: ``/v1/track`` ... ``/v1/batch``, as the SDKs call it.

A 200 means the accepted messages are committed. A batch keeps its valid messages and
lists each rejected one by index with its reason; a request none of whose messages is
valid answers 400 with the same list. Browsers post cross-origin (analytics.js), so these
routes answer CORS preflights and allow any origin: the write key is the credential.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request, Response

from cxprism.kit.clock import utcnow
from cxprism.kit.errors import AppError
from cxprism.tracking.gateway import BadRequest, gateway_of, read_json, write_key_of
from cxprism.tracking.messages import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    Envelope,
    Rejected,
    Rejection,
    validate_batch,
)

router = APIRouter(prefix="/v1", tags=["tracking (Segment-compatible)"])

CORS = {"Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST, OPTIONS",
        "Access-Control-Allow-Headers": "Authorization, Content-Type, Content-Encoding",
        "Access-Control-Max-Age": "86400"}
# analytics.js (classic) posts to one-letter paths.
SINGLE = {"track": "t", "identify": "i", "page": "p", "screen": "s", "group": "g", "alias": "a"}


class InvalidMessages(AppError):
    status_code = 400
    code = "invalid_messages"


async def _ingest(request: Request, forced_type: str | None, *, correct_skew: bool = True
                  ) -> Response:
    received_at = utcnow()
    limit = MAX_MESSAGE_BYTES if forced_type else MAX_BATCH_BYTES
    body = await read_json(request, limit)
    write_key = write_key_of(request, body)
    gateway = gateway_of(request)
    credential = await gateway.credential(write_key)
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    messages, sent_at = _messages_of(body, forced_type)
    envelope = Envelope(received_at, sent_at, correct_skew)
    try:
        rows, rejections = validate_batch(messages, envelope, forced_type)
    except Rejected as exc:
        raise BadRequest(str(exc)) from None
    if rows or rejections:
        await gateway.ingestor.submit(credential, rows, len(rejections))
    if rejections and not rows:
        raise InvalidMessages(_summary(rejections),
                              details={"rejected": [r.as_dict() for r in rejections]})
    content: dict[str, Any] = {"success": True, "accepted": len(rows),
                               "rejected": [r.as_dict() for r in rejections]}
    return Response(orjson.dumps(content), media_type="application/json", headers=CORS)


def _messages_of(body: dict[str, Any], forced_type: str | None) -> tuple[Any, object]:
    if forced_type is not None:
        return [body], None
    if "batch" not in body:
        raise BadRequest("A batch request needs a 'batch' array of messages.")
    return body["batch"], body.get("sentAt")


def _summary(rejections: list[Rejection]) -> str:
    first = rejections[0]
    more = f" (and {len(rejections) - 1} more)" if len(rejections) > 1 else ""
    return f"No message was stored: message {first.index}: {first.reason}{more}."


def _single(type_: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await _ingest(request, type_)

    endpoint.__name__ = f"segment_{type_}"
    endpoint.__doc__ = f"Segment `{type_}` call (HTTP Basic auth: the write key as user name)."
    return endpoint


for _type, _short in SINGLE.items():
    router.add_api_route(f"/{_type}", _single(_type), methods=["POST"], response_model=None)
    router.add_api_route(f"/{_short}", _single(_type), methods=["POST"], response_model=None,
                         include_in_schema=False)


@router.post("/batch", response_model=None)
async def segment_batch(request: Request) -> Response:
    """Segment `batch`: up to 500 KB of messages of any type, each validated on its own."""
    return await _ingest(request, None)


router.add_api_route("/b", segment_batch, methods=["POST"], response_model=None,
                     include_in_schema=False)


@router.post("/import", response_model=None)
async def segment_import(request: Request) -> Response:
    """Historical import: a batch whose times are kept as sent (no clock-skew correction)."""
    return await _ingest(request, None, correct_skew=False)


@router.options("/{path:path}", include_in_schema=False)
async def preflight(path: str) -> Response:
    return Response(status_code=204, headers=CORS)
