"""Each process's cache of complete subtree hashes for inclusion proofs, per workspace log.

A complete subtree's hash never changes once its last leaf is in, and the upper ones,
from ``CACHED_FROM_LEVEL`` (one per eight leaves, folded odd levels included), are shared
by many proofs: a process keeps those it read or folded, bounded, oldest first out.

A log's upper stored levels are also loaded whole, by range, the first time a proof of
it is asked for (and what the log grew by, later): a range read of ``n`` rows costs far
less than ``n`` point reads, so a batch of proofs then reads only its lowest levels.
For a log too large to hold, the load starts at the lowest stored level that fits
(:func:`load_from_level`); levels below it are cached as proofs read them.

Only proofs use the cache; audits and checkpoint checks always read storage, so a row
rewritten underneath is still found.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from itertools import islice

from cxprism.ledger.layout import STRIDE, Key

CACHED_FROM_LEVEL = 4
LIMIT = 400_000  # about 60 MB; a 2**20-leaf log has 131,071 such subtrees
LOAD_SHARE = 2  # a log's whole-level load may fill at most 1/LOAD_SHARE of the cache
_NONE: Mapping[Key, bytes] = {}


def load_from_level(size: int, budget: int) -> int:
    """The lowest stored level from which a log of ``size`` leaves has at most ``budget``
    stored subtrees in all (each stored level has a quarter of the one below)."""
    level = CACHED_FROM_LEVEL
    while (size >> level) * 4 // 3 > budget:
        level += STRIDE
    return level


class SubtreeCache:
    def __init__(self, limit: int = LIMIT) -> None:
        self.limit = limit
        self.size = 0
        self._logs: dict[uuid.UUID, dict[Key, bytes]] = {}
        self._loaded: dict[uuid.UUID, int] = {}

    def loaded_size(self, workspace_id: uuid.UUID) -> int:
        """The tree size up to which the log's upper levels were loaded whole."""
        return self._loaded.get(workspace_id, 0)

    def mark_loaded(self, workspace_id: uuid.UUID, size: int) -> None:
        self._loaded[workspace_id] = max(size, self.loaded_size(workspace_id))

    def of(self, workspace_id: uuid.UUID) -> Mapping[Key, bytes]:
        return self._logs.get(workspace_id, _NONE)

    def keep(self, workspace_id: uuid.UUID, found: Iterable[tuple[Key, bytes]]) -> None:
        """Keep the complete subtrees of ``found`` from ``CACHED_FROM_LEVEL`` up."""
        held = self._logs.setdefault(workspace_id, {})
        before = len(held)
        held.update(item for item in found if item[0][0] >= CACHED_FROM_LEVEL)
        self.size += len(held) - before
        self._trim()

    def _trim(self) -> None:
        for workspace_id in list(self._logs):  # the log cached first loses first
            if self.size <= self.limit:
                return
            held = self._logs[workspace_id]
            excess = min(len(held), self.size - self.limit)
            for key in list(islice(held, excess)):  # insertion order: oldest first
                del held[key]
            self.size -= excess
            if not held:
                del self._logs[workspace_id]
                self._loaded.pop(workspace_id, None)


proofs_cache = SubtreeCache()
