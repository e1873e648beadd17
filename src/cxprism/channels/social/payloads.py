"""Field types and parsing shared by the social and voice payloads.

Everything here turns untrusted JSON into values the conversations service can store and
an agent's browser can show: bounded, printable text, identifiers, web links that cannot
run script (``javascript:``), and timestamps moved to UTC.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit

from pydantic import AfterValidator, StringConstraints, ValidationError

from cxprism.channels.protocol import PayloadInvalid
from cxprism.kit.clock import ensure_utc
from cxprism.kit.validation import check_text, check_timestamp

MAX_URL_CHARS = 2048
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,6}")
_UNSAFE_URL_CHAR = re.compile(r"[\s\x00-\x1f\x7f]")
_VALUE_ERROR = "Value error, "


def check_web_url(value: str) -> str:
    """An absolute http(s) link: anything else (``javascript:``, ``data:``) is refused."""
    if _UNSAFE_URL_CHAR.search(value):
        raise ValueError("a URL must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise ValueError("not a valid URL") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise ValueError("must be an http:// or https:// URL")
    return value


def check_language(value: str) -> str:
    if not _LANGUAGE.fullmatch(value):
        raise ValueError("must be a language tag such as en or pt-BR")
    return value


def to_utc(value: datetime) -> datetime:
    # Exports often carry naive local-less times; they are taken as UTC, as kit.clock does.
    return ensure_utc(check_timestamp(value))


Identifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
    AfterValidator(check_text)]
WebUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=MAX_URL_CHARS),
    AfterValidator(check_web_url)]
Language = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=35), AfterValidator(check_language)]
UtcDatetime = Annotated[datetime, AfterValidator(to_utc)]


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes, max_bytes: int) -> Any:
    """The body as JSON, or :class:`PayloadInvalid` saying why it is not."""
    if len(body) > max_bytes:
        raise PayloadInvalid(f"the body is larger than {max_bytes // 1024} KiB")
    try:
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise PayloadInvalid("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise PayloadInvalid(f"the body is not JSON: {exc.msg} at position {exc.pos}") from None
    # Over-long integers and NaN/Infinity raise ValueError; absurd nesting RecursionError.
    except (ValueError, RecursionError) as exc:
        raise PayloadInvalid(f"the body is not acceptable JSON: {exc}") from None


def reason_of(exc: ValidationError, limit: int = 3) -> str:
    """A short, input-free description of what is wrong: ``field.path: problem``."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for error in errors[:limit]:
        message = error["msg"].removeprefix(_VALUE_ERROR)
        location = ".".join(str(part) for part in error["loc"])
        parts.append(f"{location}: {message}" if location else message)
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more problems")
    return "; ".join(parts)
