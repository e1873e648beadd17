"""Request and response bodies. Inputs forbid unknown fields, so server-owned ones can't be set."""

from __future__ import annotations

import math
import re
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    StringConstraints,
    model_validator,
)

from cxprism.customers.identities import Identity, IdentityKind, normalise
from cxprism.kit.validation import Input, Output, Timestamp, TimeZone, check_text

MAX_TRAITS = 200
MAX_IDENTITIES = 20
# Containers nested in one traits object (the object itself is level 1). Deeper documents
# cannot be serialised back (pydantic stops at a fixed depth) and have no use as a trait.
MAX_TRAIT_DEPTH = 32
_TRAIT_KEY = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_.$-]{0,127}$")
_LOCALE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{4}))?(?:[-_]([A-Za-z]{2}|[0-9]{3}))?$")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_.:/-]{0,99}$")


class Channel(StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    WEBCHAT = "webchat"
    SOCIAL = "social"
    VOICE = "voice"
    PUSH = "push"


class Purpose(StrEnum):
    TRANSACTIONAL = "transactional"  # receipts, password resets, order/booking updates
    MARKETING = "marketing"  # promotions, newsletters, journeys that sell
    SERVICE = "service"  # proactive service: outage notices, case follow-ups
    RESEARCH = "research"  # surveys and feedback requests


class ConsentStatus(StrEnum):
    GRANTED = "granted"
    WITHDRAWN = "withdrawn"


def check_locale(value: str) -> str:
    """BCP 47 language[-Script][-REGION], returned in canonical case (``zh-Hant-TW``)."""
    match = _LOCALE.match(value.strip())
    if match is None:
        raise ValueError("not a locale; use a BCP 47 tag such as en, en-GB or zh-Hant-TW")
    language, script, region = match.groups()
    parts = [language.lower()]
    if script:
        parts.append(script.title())
    if region:
        parts.append(region.upper())
    return "-".join(parts)


def check_traits(traits: dict[str, Any]) -> dict[str, Any]:
    if len(traits) > MAX_TRAITS:
        raise ValueError(f"at most {MAX_TRAITS} traits per request")
    bad = [key for key in traits if not _TRAIT_KEY.match(key)]
    if bad:
        raise ValueError(
            f"trait names must be 1-128 letters, digits, '_', '.', '-' or '$': {bad[:5]}")
    for key, value in traits.items():
        _check_trait_value(value, key, depth=2)
    return traits


def _check_trait_value(value: Any, path: str, depth: int) -> None:
    """Values a database stores and JSON carries back: finite numbers, clean text, shallow."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"trait {path!r}: numbers must be finite (no NaN or Infinity)")
    if isinstance(value, str):
        _check_trait_text(value, path)
    if isinstance(value, dict | list) and depth > MAX_TRAIT_DEPTH:
        raise ValueError(f"trait {path!r} nests deeper than {MAX_TRAIT_DEPTH} levels")
    if isinstance(value, dict):
        for key, item in value.items():
            _check_trait_text(key, f"{path}.{key}")
            _check_trait_value(item, f"{path}.{key}", depth + 1)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_trait_value(item, f"{path}[{index}]", depth + 1)


def _check_trait_text(text: str, path: str) -> None:
    try:
        check_text(text)
    except ValueError as exc:
        raise ValueError(f"trait {path[:200]!r}: text {exc}") from None


def check_source(value: str) -> str:
    # A token, not free text: consent history outlives erasure and must hold no personal data.
    if not _SOURCE.match(value):
        raise ValueError("use a short lowercase token such as 'web_form', 'import:crm', "
                         "'agent:<user id>' (no free text: the history is kept after erasure)")
    return value


Locale = Annotated[str, AfterValidator(check_locale)]
Traits = Annotated[dict[str, Any], AfterValidator(check_traits)]
Source = Annotated[str, AfterValidator(check_source)]
Region = Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2}$")]


class IdentityIn(Input):
    kind: IdentityKind
    value: Annotated[str, StringConstraints(min_length=1, max_length=1000)]
    namespace: Annotated[str, StringConstraints(max_length=40)] = Field(
        default="", description="Only for kind=social: the network, e.g. 'twitter'.")
    region: Region | None = Field(
        default=None, description="For kind=phone without '+': the ISO 3166 country, e.g. 'GB'.")

    @model_validator(mode="after")
    def _normalisable(self) -> IdentityIn:
        self.normalised()  # raises InvalidIdentity (a ValueError) -> a 422 naming the field
        return self

    def normalised(self) -> Identity:
        return normalise(self.kind, self.value, self.namespace, self.region)


class CustomerCreate(Input):
    identities: list[IdentityIn] = Field(min_length=1, max_length=MAX_IDENTITIES)
    traits: Traits = Field(default_factory=dict)
    timezone: TimeZone | None = None
    locale: Locale | None = None


class CustomerUpdate(Input):
    traits: Traits | None = Field(default=None, description="A patch; null deletes a trait.")
    timezone: TimeZone | None = Field(default=None, description="null clears it.")
    locale: Locale | None = Field(default=None, description="null clears it.")


class IdentitiesAttach(Input):
    identities: list[IdentityIn] = Field(min_length=1, max_length=MAX_IDENTITIES)


class MergeRequest(Input):
    winner_id: uuid.UUID
    loser_id: uuid.UUID

    @model_validator(mode="after")
    def _distinct(self) -> MergeRequest:
        if self.winner_id == self.loser_id:
            raise ValueError("winner_id and loser_id must be different customers")
        return self


class ConsentIn(Input):
    channel: Channel
    purpose: Purpose
    status: ConsentStatus
    source: Source
    occurred_at: Timestamp | None = Field(
        default=None, description="When the person decided (for imports); not in the future.")


class EraseRequest(Input):
    suppress: bool = Field(
        default=False, description="Refuse future data for this person's identities.")


class IdentityOut(Output):
    kind: IdentityKind
    namespace: str
    value: str
    first_seen_at: datetime
    last_seen_at: datetime


class CustomerOut(BaseModel):
    id: uuid.UUID
    requested_id: uuid.UUID = Field(
        description="The id asked for; differs from id when it was merged into this profile.")
    merged_from: list[uuid.UUID]
    traits: dict[str, Any]
    timezone: str | None
    locale: str | None
    identities: list[IdentityOut]
    created_at: datetime
    updated_at: datetime


class ConsentOut(Output):
    channel: Channel
    purpose: Purpose
    status: ConsentStatus
    source: str
    occurred_at: datetime


class ConsentEventOut(ConsentOut):
    id: uuid.UUID
    recorded_at: datetime


class ConsentList(BaseModel):
    data: list[ConsentOut]
    history: list[ConsentEventOut] | None = None


class DataSubjectRequestOut(Output):
    id: uuid.UUID
    customer_id: uuid.UUID
    kind: str
    status: str
    suppress: bool
    requested_by: uuid.UUID | None
    created_at: datetime
    completed_at: datetime | None


class TimelineItem(BaseModel):
    kind: Literal["event", "message", "send"] = Field(
        description="event: a tracked event (in `event`); message: a conversation message "
                    "(in `message`); send: a message of the outbound pipeline (in `send`)")
    at: datetime
    event: dict[str, Any] | None = None
    message: dict[str, Any] | None = None
    send: dict[str, Any] | None = None


class TimelinePage(BaseModel):
    data: list[TimelineItem]
    next_cursor: str | None = None
