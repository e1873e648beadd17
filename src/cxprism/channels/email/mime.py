"""Reading parts and headers of a hostile email without trusting the email package to cope.

The standard library's header parser can misread (a Message-ID with a space) or, on
rare malformed input, raise; every accessor here falls back to the raw value so that one
odd header never costs the whole message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from cxprism.kit.validation import MAX_YEAR, MIN_YEAR

_NUL_AND_SURROGATES = re.compile(r"[\x00\ud800-\udfff]")
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_WHITESPACE = re.compile(r"\s+")


def raw_header(msg: Message, name: str) -> str | None:
    """The first ``name`` header exactly as received (folding included), or None."""
    wanted = name.lower()
    for key, value in msg.raw_items():
        if key.lower() == wanted:
            return str(value)
    return None


def raw_headers(msg: Message, name: str) -> list[str]:
    wanted = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == wanted]


def decoded_headers(msg: Message, name: str) -> list[str]:
    """Every ``name`` header with encoded words decoded (raw if decoding fails)."""
    try:
        return [str(value) for value in msg.get_all(name, [])]
    except Exception:  # the header parser raises on some hostile input; raw beats nothing
        return raw_headers(msg, name)


def one_line(value: str, limit: int = 998) -> str:
    """Header text for display: controls removed, whitespace runs (folding) to one space."""
    return _WHITESPACE.sub(" ", _CONTROLS.sub(" ", value)).strip()[:limit]


def clean_text(value: str) -> str:
    """Body text a database accepts: LF line ends, no NUL, no lone surrogates."""
    return _NUL_AND_SURROGATES.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))


def text_of(part: Message) -> str:
    """A text part's content as str, whatever its declared charset claims."""
    get_content = getattr(part, "get_content", None)
    if get_content is not None:
        try:
            content = get_content()
        except (LookupError, UnicodeError, ValueError, AssertionError):
            # An unknown or lying charset: fall through to a lenient UTF-8 decoding.
            content = None
        if isinstance(content, str):
            return clean_text(content)
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return clean_text(payload.decode("utf-8", "replace"))
    return ""


def leaves(part: Message) -> Iterator[Message]:
    """Every non-container part, depth first. An attached email counts as one leaf."""
    if part.get_content_maintype() == "multipart":
        payload = part.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    yield from leaves(sub)
        return
    yield part


def part_bytes(part: Message) -> bytes:
    """A leaf's decoded bytes; an attached email is serialised back to its source form."""
    payload = part.get_payload()
    if isinstance(payload, list):
        try:
            return b"".join(item.as_bytes() for item in payload if isinstance(item, Message))
        except Exception:  # a defective inner message may not serialise; keep the rest
            return b""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def parse_date(value: str | None) -> datetime | None:
    """A Date header as aware UTC; None when absent, unreadable or outside storable years."""
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(one_line(value))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed.tzinfo is None:  # "-0000": the time is UTC, the sender's zone unknown
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return None
    return parsed if MIN_YEAR <= parsed.year <= MAX_YEAR else None
