"""The inbox's keyset cursor: (last message time, id) of the page's last conversation."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from cxprism.kit.clock import ensure_utc
from cxprism.kit.errors import Unprocessable


def encode_inbox_cursor(at: datetime, last_id: uuid.UUID) -> str:
    raw = f"{ensure_utc(at).isoformat()}|{last_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_inbox_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, last_id = raw.partition("|")
        return ensure_utc(datetime.fromisoformat(at)), uuid.UUID(last_id)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Unprocessable("The cursor is not one this API returned.",
                            details={"field": "cursor"}) from exc
