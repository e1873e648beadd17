"""Input types shared by every domain's schemas: text and timestamps a database can store.

PostgreSQL refuses NUL characters in text, JSON cannot carry lone surrogates, and dates
at the very edge of the calendar overflow when moved to UTC; each would otherwise reach
the database and come back as a 500 instead of a clear 422.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

from cxprism.kit.errors import Unprocessable

MIN_YEAR = 1900
MAX_YEAR = 9000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def check_text(value: str) -> str:
    """Printable text: no NUL or other control characters (tab and newlines are fine)."""
    if _CONTROL.search(value):
        raise ValueError("must not contain NUL or other control characters")
    if _SURROGATE.search(value):
        raise ValueError("must be valid Unicode (it contains a lone surrogate)")
    return value


# What no database stores: control characters (but tab and newlines) and lone surrogates.
UNSTORABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def storable_text(value: str, limit: int) -> str:
    """Someone else's text (a customer's message) made storable: rather than refuse it
    over one stray character, drop what cannot be stored, and bound the length."""
    return UNSTORABLE.sub("", value)[:limit]


def check_timestamp(value: datetime) -> datetime:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"the year must be between {MIN_YEAR} and {MAX_YEAR}")
    return value


Text = Annotated[str, AfterValidator(check_text)]
Timestamp = Annotated[AwareDatetime, AfterValidator(check_timestamp)]


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(value: str) -> str:
    if value not in _zones():
        raise ValueError("not an IANA time zone name, e.g. Europe/Paris")
    return value


TimeZone = Annotated[str, AfterValidator(check_timezone)]


class Input(BaseModel):
    """A request body: unknown fields are refused, so server-owned ones can't be set."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    """A response body, read from ORM objects."""

    model_config = ConfigDict(from_attributes=True)


def query_text(field: str, value: str | None) -> str | None:
    """A query parameter checked as :func:`check_text`, refused with a 422 naming it."""
    if value is None:
        return None
    try:
        return check_text(value)
    except ValueError as exc:
        raise Unprocessable(f"{field} {exc}.", details={"field": field}) from exc


def query_time(field: str, value: datetime | None) -> datetime | None:
    # Calendar-edge times overflow when moved to UTC; refuse them instead of a 500.
    if value is None:
        return None
    try:
        return check_timestamp(value)
    except ValueError as exc:
        raise Unprocessable(f"{field}: {exc}.", details={"field": field}) from exc
