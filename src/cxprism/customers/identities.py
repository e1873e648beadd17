"""Identity normalisation: pure functions, no I/O.

One real-world identifier must always produce the same stored triple
``(kind, namespace, value)``, whatever way a caller spelled it — that is what lets the
database's unique constraint mean "one owner per identity". Every rule lives here.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import phonenumbers

from cxprism.kit.validation import UNSTORABLE

MAX_OPAQUE_ID = 255
MAX_EMAIL = 320
MAX_HANDLE = 255


class IdentityKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    EXTERNAL_ID = "external_id"  # the business's own user id (at most one per profile)
    ANONYMOUS_ID = "anonymous_id"  # a tracking SDK's device/browser id
    SOCIAL = "social"  # a handle on a network; namespace = the network
    WEBCHAT_VISITOR_ID = "webchat_visitor_id"


class InvalidIdentity(ValueError):
    """The value cannot be an identity of that kind; the message says what to fix."""


@dataclass(frozen=True, order=True)
class Identity:
    kind: IdentityKind
    namespace: str
    value: str


_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(?:\.[^@\s.]+)+$")
_NETWORK = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,38}[a-z0-9])?$")
_REGION = re.compile(r"^[A-Za-z]{2}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise_email(value: str) -> str:
    email = value.strip().lower()
    if len(email) > MAX_EMAIL or not _EMAIL.match(email):
        raise InvalidIdentity(f"{value!r} is not an email address (expected local@domain.tld)")
    return email


def normalise_phone(value: str, default_region: str | None = None) -> str:
    """E.164 (``+14155550100``). A number without ``+`` needs ``default_region`` (ISO 3166)."""
    return _normalise_phone(value, default_region)


@functools.lru_cache(maxsize=65_536)
def _normalise_phone(value: str, default_region: str | None) -> str:
    # Parsing takes tens of microseconds and the same senders come back all the time; a
    # pure function of its arguments (failures raise each time: they are not cached).
    region = None
    if default_region is not None:
        if not _REGION.match(default_region):
            raise InvalidIdentity(
                f"region {default_region!r} is not a two-letter ISO 3166 country code")
        region = default_region.upper()
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region else "; give it in +<country code> form or pass a region"
        raise InvalidIdentity(f"{value!r} is not a phone number ({exc}){hint}") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidIdentity(f"{value!r} is not a valid phone number for its country")
    formatted: str = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return formatted


def normalise_opaque_id(value: str, kind: IdentityKind) -> str:
    """External, anonymous and visitor ids: kept as given (they are case-sensitive), trimmed."""
    trimmed = value.strip()
    if not 1 <= len(trimmed) <= MAX_OPAQUE_ID:
        raise InvalidIdentity(f"a {kind} must be 1 to {MAX_OPAQUE_ID} characters after trimming")
    if _CONTROL.search(trimmed):
        raise InvalidIdentity(f"a {kind} must not contain control characters")
    return trimmed


def normalise_network(namespace: str) -> str:
    network = namespace.strip().lower()
    if not _NETWORK.match(network):
        raise InvalidIdentity(
            "a social identity needs namespace = the network as a lowercase slug, e.g. 'twitter'")
    return network


def normalise_handle(value: str) -> str:
    handle = value.strip().lower().removeprefix("@").strip()
    if not 1 <= len(handle) <= MAX_HANDLE or _CONTROL.search(handle) or " " in handle:
        raise InvalidIdentity(
            f"{value!r} is not a social handle (1 to {MAX_HANDLE} characters, no spaces)")
    return handle


def check_storable(*texts: str) -> None:
    """Refuse NUL, control characters and lone surrogates, whatever the kind."""
    # Tab and newlines are trimmed or refused per kind; what no database stores, here.
    if any(UNSTORABLE.search(text) for text in texts):
        raise InvalidIdentity("an identity must not contain NUL or other control characters, "
                              "or invalid Unicode (a lone surrogate)")


def normalise(kind: IdentityKind | str, value: str, namespace: str = "",
              default_region: str | None = None) -> Identity:
    """The canonical identity for ``value``; raises :class:`InvalidIdentity`."""
    try:
        kind = IdentityKind(kind)
    except ValueError as exc:
        known = ", ".join(k.value for k in IdentityKind)
        raise InvalidIdentity(f"unknown identity kind {kind!r}; use one of {known}") from exc
    check_storable(value, namespace)
    if kind is IdentityKind.SOCIAL:
        return Identity(kind, normalise_network(namespace), normalise_handle(value))
    if namespace:
        raise InvalidIdentity(f"namespace is only for social identities, not {kind}")
    if kind is IdentityKind.EMAIL:
        return Identity(kind, "", normalise_email(value))
    if kind is IdentityKind.PHONE:
        return Identity(kind, "", normalise_phone(value, default_region))
    return Identity(kind, "", normalise_opaque_id(value, kind))


def shared_identities(people: Iterable[tuple[Identity, ...]]) -> set[Identity]:
    """Identities that two different identity sets name: the people behind them are one
    person (a link or a merge), which only identity resolution may decide."""
    first_seen: dict[Identity, frozenset[Identity]] = {}
    shared: set[Identity] = set()
    for person in {frozenset(p) for p in people}:
        for identity in person:
            if first_seen.setdefault(identity, person) != person:
                shared.add(identity)
    return shared
