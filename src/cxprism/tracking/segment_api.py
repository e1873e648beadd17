"""Segment's HTTP Tracking API: ``/v1/track`` ... ``/v1/batch``, as the SDKs call it.

A 200 means the accepted messages are committed. A batch keeps its valid messages and
lists each rejected one by index with its reason; a request none of whose messages is
valid answers 400 with the same list. Browsers post cross-origin (analytics.js), so these
routes answer CORS preflights and allow any origin: the write key is the credential.

This is a plain ASGI middleware in front of the application that answers ``/v1/...``
itself: thousands of small requests a second come here, and the routing, dependency and
middleware machinery of the rest of the API would cost more than the work itself. It keeps
the API's contracts on its own: the error body, the body size limit (413) and
``X-Request-ID``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import orjson

from cxprism.kit.asgi import Answer, AnsweringFastPath, error_content
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import (
    AppError,
    BadRequest,
    MethodNotAllowed,
    NotFound,
)
from cxprism.tracking.gateway import body_of, gateway_of, parse_json, write_key_of
from cxprism.tracking.messages import (
    MAX_BATCH_BYTES,
    MAX_MESSAGE_BYTES,
    Envelope,
    Rejected,
    Rejection,
    validate_batch,
)
from cxprism.tracking.wire import RawBody, validate_raw

log = logging.getLogger("cxprism.tracking")
PREFIX = "/v1/"

# Any origin may post; what it may send is said once, to the preflight (Fetch standard:
# methods, headers and max-age mean nothing on the answer to the request itself).
CORS = [(b"access-control-allow-origin", b"*")]
PREFLIGHT = [*CORS, (b"access-control-allow-methods", b"POST, OPTIONS"),
             (b"access-control-allow-headers", b"Authorization, Content-Type, Content-Encoding"),
             (b"access-control-max-age", b"86400")]
# endpoint -> (forced message type or None for batches, correct clock skew?)
ENDPOINTS: dict[str, tuple[str | None, bool]] = {
    **{name: (name, True) for name in ("track", "identify", "page", "screen", "group", "alias")},
    # analytics.js (classic) posts to one-letter paths
    "t": ("track", True), "i": ("identify", True), "p": ("page", True),
    "s": ("screen", True), "g": ("group", True), "a": ("alias", True),
    "batch": (None, True), "b": (None, True),
    "import": (None, False),  # history: times kept as sent
}


class InvalidMessages(AppError):
    status_code = 400
    code = "invalid_messages"


class SegmentFastPath(AnsweringFastPath):
    """Answers ``/v1/...`` (the Segment API); passes everything else on to ``app``. ``cxprism
    serve`` also hands it plain requests without ASGI (kit.direct_lane)."""

    prefix = PREFIX
    direct_prefix = PREFIX.encode()

    def early_answer(self, method: str, path: str) -> Answer | None:
        """A preflight's answer, or the refusal of an unknown endpoint or method."""
        if method == "OPTIONS":
            return 204, b"", PREFLIGHT
        if _endpoint_of(path) is None:
            return self.error_answer(NotFound(
                "No such tracking endpoint; see /v1/track ... /v1/batch."))
        if method != "POST":
            return self.error_answer(MethodNotAllowed("Tracking endpoints take POST."))
        return None

    def error_answer(self, error: Exception) -> Answer:
        if isinstance(error, AppError):
            return error.status_code, error_content(error.code, error.message,
                                                    error.details), CORS
        return 500, error_content(
            "internal_error", "Something went wrong on our side; retry the request."), CORS

    async def answer(self, app: Any, method: str, path: str, headers: dict[str, str],
                     body: bytes) -> Answer:
        endpoint = _endpoint_of(path)
        assert endpoint is not None  # early_answer refused the others
        try:
            content = await ingest(app.state, headers, body, *endpoint)
            return 200, orjson.dumps(content), CORS
        except AppError as exc:
            return self.error_answer(exc)
        except Exception as exc:
            log.exception("tracking request %s failed", path)
            return self.error_answer(exc)


def _endpoint_of(path: str) -> tuple[str | None, bool] | None:
    return ENDPOINTS.get(path[len(PREFIX):].rstrip("/"))


async def ingest(state: Any, headers: dict[str, str], raw: bytes, forced_type: str | None,
                 correct_skew: bool) -> dict[str, Any]:
    received_at = utcnow()
    body = body_of(raw, headers, MAX_MESSAGE_BYTES if forced_type else MAX_BATCH_BYTES)
    gateway = gateway_of(state)
    split = RawBody.read(body, forced_type)
    if split is not None:  # the plain shape: messages read from their bytes
        credential = await gateway.credential(write_key_of(headers, split.write_key))
        rows, rejections = validate_raw(split, Envelope(received_at, split.sent_at,
                                                        correct_skew), forced_type)
    else:  # anything else is parsed whole, and answered with its exact errors
        parsed = parse_json(body)
        credential = await gateway.credential(write_key_of(
            headers, parsed.get("writeKey") if isinstance(parsed, dict) else None))
        rows, rejections = _validate_parsed(parsed, received_at, forced_type, correct_skew)
    if rows or rejections:
        await gateway.ingestor.submit(credential, rows, len(rejections))
    if rejections and not rows:
        raise InvalidMessages(_summary(rejections),
                              details={"rejected": [r.as_dict() for r in rejections]})
    return {"success": True, "accepted": len(rows),
            "rejected": [r.as_dict() for r in rejections]}


def _validate_parsed(body: Any, received_at: datetime, forced_type: str | None,
                     correct_skew: bool) -> tuple[list[dict[str, Any]], list[Rejection]]:
    if not isinstance(body, dict):
        raise BadRequest("The body must be a JSON object.")
    messages, sent_at = _messages_of(body, forced_type)
    try:
        return validate_batch(messages, Envelope(received_at, sent_at, correct_skew),
                              forced_type)
    except Rejected as exc:
        raise BadRequest(str(exc)) from None


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

