"""Recomputing a log from its stored entries: the first index where anything was changed.

The auditor is fed the stored rows in index order and checks, for each, what no later
rewrite can keep consistent without also rewriting everything after it:

- the rows are numbered without a gap (a deleted entry leaves one);
- the entry is canonical JSON of this log and names its own index (an entry moved or
  slipped in names another index — the first wrong position is the smaller of the two);
- its bytes hash to the stored leaf hash;
- it names the hash of the entry before it (an entry edited together with its stored
  hash is caught by its successor);
- the tree rebuilt from the entries gives the stored interior subtrees, the log head's
  size, last leaf and root, and every signed checkpoint's root.

Pure: the service streams rows in and reads the findings out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from cxprism.ledger.canonical import CanonicalError, canonical
from cxprism.ledger.layout import Frontier, Key, extend
from cxprism.ledger.merkle import EMPTY_ROOT, leaf_hash


@dataclass(frozen=True)
class Finding:
    index: int
    problem: str


@dataclass(frozen=True)
class AuditReport:
    size: int
    checked: int
    finding: Finding | None

    @property
    def intact(self) -> bool:
        return self.finding is None


@dataclass(frozen=True)
class _Suspect:
    """A rebuilt subtree over ``first..last`` that differs from the stored one."""

    first: int
    last: int

    def finding(self) -> Finding:
        return Finding(self.first, f"the stored subtree over entries {self.first}..{self.last} "
                       "differs from the entries")


class Auditor:
    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.frontier = Frontier.empty()
        self.previous = EMPTY_ROOT
        self.finding: Finding | None = None
        self._roots: dict[int, bytes] = {0: EMPTY_ROOT}  # tree size -> root, for checkpoints
        self._suspect: _Suspect | None = None

    @property
    def checked(self) -> int:
        return self.frontier.size

    def feed(self, index: int, entry: bytes, stored_hash: bytes,
             stored_nodes: Mapping[Key, bytes]) -> bool:
        """Check the next stored row; False once a finding is made (stop feeding).

        ``stored_nodes`` holds the stored interior subtrees this row may complete.
        """
        if self.finding is not None:
            return False
        problem = self._check(index, entry, stored_hash)
        if problem is not None:
            # An entry edited with its hash shows at its successor, after the subtree
            # that holds it already differed: the entry's own index is the exact one.
            suspect = self._suspect
            self.finding = suspect.finding() if suspect and problem.index > suspect.last \
                else problem
            return False
        digest = leaf_hash(entry)
        growth = extend(self.frontier, [digest])
        self.frontier, self.previous = growth.frontier, digest
        for level, node_index, rebuilt in growth.nodes:
            if self._suspect is None and stored_nodes.get((level, node_index)) != rebuilt:
                first = node_index << level
                self._suspect = _Suspect(first, first + (1 << level) - 1)
        if self._suspect is not None and index > self._suspect.last:
            self.finding = self._suspect.finding()
            return False
        if self.frontier.size in self._wanted_roots:
            self._roots[self.frontier.size] = self.frontier.root()
        return True

    _wanted_roots: frozenset[int] = frozenset()

    def keep_roots_at(self, sizes: set[int]) -> None:
        """Keep the rebuilt root at these tree sizes (the signed checkpoints')."""
        self._wanted_roots = frozenset(sizes)

    def _check(self, index: int, entry: bytes, stored_hash: bytes) -> Finding | None:
        expected = self.frontier.size
        if index != expected:
            return Finding(expected, f"entry {expected} is missing (the next stored is {index})")
        parsed = _parsed(entry)
        if parsed is None:
            return Finding(index, f"entry {index} is not a canonical ledger entry: it was edited")
        claimed = parsed.get("index")
        if parsed.get("log") != self.origin or not isinstance(claimed, int):
            return Finding(index, f"entry {index} does not belong to this log")
        if claimed != index:
            return Finding(min(claimed, index), f"the entry stored at {index} was written as "
                           f"entry {claimed}: entries were moved, deleted or inserted")
        return self._check_hashes(index, entry, stored_hash, parsed.get("prev"))

    def _check_hashes(self, index: int, entry: bytes, stored_hash: bytes,
                      previous: object) -> Finding | None:
        if leaf_hash(entry) != stored_hash:
            return Finding(index, f"entry {index} does not match its stored leaf hash: edited")
        if previous != self.previous.hex():
            if index == 0:  # nothing comes before the first entry: it was edited itself
                return Finding(0, "entry 0 does not start the log: it was edited")
            return Finding(index - 1, f"entry {index - 1} is not the entry that entry {index} "
                           "follows: it was edited or replaced")
        return None

    def finish(self, *, size: int, last_leaf: bytes | None, frontier_root: bytes,
               checkpoints: Mapping[int, bytes]) -> AuditReport:
        """The findings, once every stored row was fed (or feeding stopped)."""
        suspect = self._suspect
        if self.finding is None and suspect is not None:
            last_edited = size and last_leaf != self.previous and suspect.last == size - 1
            self.finding = Finding(size - 1, f"entry {size - 1}, the last, was edited") \
                if last_edited else suspect.finding()
        if self.finding is None:
            self.finding = self._final_check(size, last_leaf, frontier_root, checkpoints)
        return AuditReport(size, self.checked, self.finding)

    def _final_check(self, size: int, last_leaf: bytes | None, frontier_root: bytes,
                     checkpoints: Mapping[int, bytes]) -> Finding | None:
        count = self.frontier.size
        if count < size:
            return Finding(count, f"the log holds {size} entries but only {count} are stored: "
                           f"entries from {count} on were deleted")
        if count > size:
            return Finding(size, f"the log holds {size} entries but {count} are stored: "
                           f"entries from {size} on were added outside the ledger")
        if size and last_leaf != self.previous:
            return Finding(size - 1, f"entry {size - 1}, the last, was edited")
        if self.frontier.root() != frontier_root:
            return Finding(size, "the log head's tree was rewritten")
        for tree_size in sorted(checkpoints):
            if self._roots.get(tree_size) != checkpoints[tree_size]:
                return Finding(min(tree_size, size), "the entries do not give the root of the "
                               f"signed checkpoint of size {tree_size}")
        return None


def _parsed(entry: bytes) -> dict[str, object] | None:
    try:
        value = orjson.loads(entry)
    except orjson.JSONDecodeError:
        return None
    try:
        if not isinstance(value, dict) or canonical(value) != entry:
            return None
    except CanonicalError:
        return None
    return value
