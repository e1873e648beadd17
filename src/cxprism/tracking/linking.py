"""Which identities a stretch of tracked events says belong together: pure, no I/O.

- ``identify`` names the person: its user id, anonymous id, and the email and phone in its
  traits (when they are valid), with the traits to apply.
- ``track``/``page``/``screen``/``group`` sent with a user id tie that user id to the
  device's anonymous id (so browsing before login joins the profile after it).
- ``alias`` ties ``previousId`` to ``userId``.
- Events with only an anonymous id create no profile: an anonymous visitor's trail waits,
  stored, until an identity links it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cxprism.customers.identities import Identity, IdentityKind, InvalidIdentity, normalise

TRAIT_IDENTITIES = (("email", IdentityKind.EMAIL), ("phone", IdentityKind.PHONE))


@dataclass
class Fact:
    identities: tuple[Identity, ...]
    traits: dict[str, Any] = field(default_factory=dict)
    # An alias's previousId: an anonymous id, or an earlier user id (the consumer looks).
    previous_id: str | None = None

    def with_previous_as(self, identity: Identity) -> Fact:
        return Fact(tuple(sorted({*self.identities, identity})), self.traits)


def external(value: str) -> Identity:
    return Identity(IdentityKind.EXTERNAL_ID, "", value)


def anonymous(value: str) -> Identity:
    return Identity(IdentityKind.ANONYMOUS_ID, "", value)


def facts_of(rows: list[dict[str, Any]]) -> list[Fact]:
    """One fact per distinct set of identities, in event order; traits of later events win.

    ``rows`` carry ``type``, ``user_id``, ``anonymous_id``, ``previous_id`` and ``traits``.
    """
    facts: dict[tuple[tuple[Identity, ...], str | None], Fact] = {}
    for row in rows:
        identities, traits = _identities_of(row)
        previous = row["previous_id"] if row["type"] == "alias" else None
        if not identities or (previous is None and len(identities) == 1 and not traits
                              and identities[0].kind is IdentityKind.ANONYMOUS_ID):
            continue
        fact = facts.setdefault((identities, previous), Fact(identities, previous_id=previous))
        fact.traits.update(traits)
    return list(facts.values())


def _identities_of(row: dict[str, Any]) -> tuple[tuple[Identity, ...], dict[str, Any]]:
    found: set[Identity] = set()
    traits: dict[str, Any] = {}
    if row["user_id"] is not None:
        found.add(external(row["user_id"]))
    if row["type"] == "identify":
        traits = dict(row.get("traits") or {})
        found |= _trait_identities(traits)
    if row["anonymous_id"] is not None and (found or row["type"] == "identify"):
        found.add(anonymous(row["anonymous_id"]))
    return tuple(sorted(found)), traits


def _trait_identities(traits: dict[str, Any]) -> set[Identity]:
    found = set()
    for trait, kind in TRAIT_IDENTITIES:
        value = traits.get(trait)
        if isinstance(value, str) and value.strip():
            try:
                found.add(normalise(kind, value))
            except InvalidIdentity:
                continue  # a malformed email in traits stays a trait, not an identity
    return found
