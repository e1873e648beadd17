"""Opaque cursors over time-ordered ids: stable under concurrent inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Generic, TypeVar

from pydantic import BaseModel, Field

from cxprism.kit.errors import Unprocessable

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` to get the next page; null on the last page."
    )


def encode_cursor(last_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(last_id.bytes).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return uuid.UUID(bytes=raw)
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable(
            "The cursor is not one this API issued; pass next_cursor from a previous page.",
            details={"field": "cursor"},
        ) from exc


def clamp_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1 or limit > MAX_LIMIT:
        raise Unprocessable(f"limit must be between 1 and {MAX_LIMIT}.", details={"field": "limit"})
    return limit
