"""Trait patches and merges by per-trait recency: pure functions over plain dicts.

A profile keeps ``traits`` and ``stamps`` (trait name -> ISO-8601 UTC time it was last set
or deleted). A name with a stamp but no value is a deletion, remembered so that merging in
an older profile cannot resurrect a trait the customer removed later.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_MISSING = object()


@dataclass
class TraitState:
    traits: dict[str, Any] = field(default_factory=dict)
    stamps: dict[str, str] = field(default_factory=dict)


def stamp(moment: datetime) -> str:
    # Fixed width so that string order is time order.
    return moment.isoformat(timespec="microseconds")


def apply_patch(state: TraitState, patch: dict[str, Any],
                now: datetime) -> tuple[TraitState, list[str]]:
    """Set every key of ``patch`` (``None`` deletes it) at ``now``; returns the changed names."""
    traits, stamps = dict(state.traits), dict(state.stamps)
    changed: list[str] = []
    at = stamp(now)
    for key, value in patch.items():
        before = traits.get(key, _MISSING)
        if value is None:
            traits.pop(key, None)
        else:
            traits[key] = value
        stamps[key] = at
        deleted_existing = value is None and before is not _MISSING
        if deleted_existing or (value is not None and before != value):
            changed.append(key)
    return TraitState(traits, stamps), changed


def merge(winner: TraitState, loser: TraitState) -> TraitState:
    """Per trait, the most recent decision (set or delete) wins; ties go to the winner.

    A trait without a stamp (written before stamps existed) counts as oldest.
    """
    traits, stamps = dict(winner.traits), dict(winner.stamps)
    for key in set(loser.traits) | set(loser.stamps):
        loser_at = loser.stamps.get(key, "")
        if loser_at <= winner.stamps.get(key, "") and (key in winner.traits or
                                                       key in winner.stamps):
            continue
        if key in loser.traits:
            traits[key] = loser.traits[key]
        else:
            traits.pop(key, None)
        if loser_at:
            stamps[key] = loser_at
    return TraitState(traits, stamps)
