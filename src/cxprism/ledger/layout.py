"""Which complete subtrees the ledger stores, and how it grows its tree: pure functions.

Leaf hashes are stored with their entries (level 0). Of the interior complete subtrees
only every ``STRIDE``-th level is stored (levels 2, 4, 6, ...): one row per three leaves
in all, small rows loaded with COPY. Any other complete subtree is folded from the two
stored ones below it, so an inclusion proof in a log of 2**20 leaves reads about 30
stored hashes (O(log n); 15 a proof when 1,000 are read together) and hashes about 10.
Stride 4 wrote a fifth as many rows but read twice as many per proof and folded up to
eight, which made proofs the slower half (measured with ``bench/ledger_bench.py``).

Appends keep the *frontier*: the complete subtrees that tile ``[0, size)`` (one per set bit
of ``size``, largest first). A new leaf merges with the frontier's right end while its
index is odd, exactly as :func:`cxprism.ledger.merkle.append_subtrees` does, and the root
is the right fold of the frontier. No stored node is read to append.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from cxprism.ledger.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    SubtreeLookup,
    node_hash,
    range_root,
    subtrees_needed,
)

STRIDE = 2
Key = tuple[int, int]
"""A complete subtree ``(level, index)``: leaves ``[index * 2**level, (index + 1) * 2**level)``."""


def is_stored(level: int) -> bool:
    return level % STRIDE == 0


def stored_inputs(level: int, index: int) -> list[Key]:
    """The stored subtrees whose fold is subtree ``(level, index)``, left to right."""
    base = level - level % STRIDE
    width = 1 << (level - base)
    return [(base, index * width + offset) for offset in range(width)]


def stored_keys(needed: Iterable[Key]) -> list[Key]:
    """Every stored subtree that the subtrees ``needed`` are folded from, deduplicated."""
    keys: dict[Key, None] = {}
    for level, index in needed:
        for key in stored_inputs(level, index):
            keys.setdefault(key, None)
    return list(keys)


def fold(hashes: Sequence[bytes]) -> bytes:
    """The root of a complete subtree from its ``2**k`` hashes one row down (k levels)."""
    row = list(hashes)
    if not row or len(row) & (len(row) - 1):
        raise ValueError(f"a complete subtree folds a power of two of hashes, not {len(row)}")
    while len(row) > 1:
        row = [node_hash(row[i], row[i + 1]) for i in range(0, len(row), 2)]
    return row[0]


def lookup_from(stored: Mapping[Key, bytes]) -> SubtreeLookup:
    """A complete-subtree lookup over the stored hashes read for a proof."""
    cache: dict[Key, bytes] = {}

    def subtree(level: int, index: int) -> bytes:
        key = (level, index)
        found = stored.get(key) or cache.get(key)
        if found is None:
            if is_stored(level):
                raise KeyError(f"stored subtree {key} was not read (or is missing)")
            found = fold([subtree(*k) for k in stored_inputs(level, index)])
            cache[key] = found
        return found

    return subtree


RIGHT_EDGE = -1
"""The level in a path step ``(RIGHT_EDGE, start)``: the range ``[start, size)`` at the
tree's right edge, not a complete subtree."""


def inclusion_steps(index: int, size: int) -> list[Key]:
    """PATH(index, D[size]) as subtree keys, leaf first: the ranges of
    :func:`merkle.inclusion_path_ranges` (same bits, same order) without making them.

    Below level ``inner`` (the highest bit where ``index`` and the last leaf differ) each
    sibling is the complete subtree next to the leaf's ancestor, save the one at
    ``inner - 1``: ``[start, size)``, complete only when its width is a power of two.
    Above, a left sibling wherever ``index`` has a 1 bit.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    inner = (index ^ (size - 1)).bit_length()
    steps = [(level, (index >> level) ^ 1) for level in range(inner - 1)]
    if inner:
        start = ((index >> (inner - 1)) | 1) << (inner - 1)
        width = size - start
        if width & (width - 1):
            steps.append((RIGHT_EDGE, start))
        else:  # aligned: start is a multiple of 2**(inner - 1) >= width
            level = width.bit_length() - 1
            steps.append((level, start >> level))
    level, high = inner, index >> inner
    while high:
        if high & 1:
            steps.append((level, high ^ 1))
        high >>= 1
        level += 1
    return steps


@dataclass(frozen=True)
class InclusionPlan:
    """Inclusion proofs for many leaves of one tree, as steps to look up: each proof lists
    ``(level, index)`` complete subtrees and at most one right-edge step, leaf first."""

    size: int
    paths: dict[int, list[Key]]
    steps: list[Key]
    """Every distinct step of the paths."""
    reads: list[Key]
    """The stored hashes the steps are made from, deduplicated, less those known."""
    known: list[Key]
    """The hashes taken from those the caller knows (steps, or the inputs of one)."""
    made: list[Key]
    """The complete steps that are not known: read, or folded from reads."""


def inclusion_plan(indices: Iterable[int], size: int,
                   known: Mapping[Key, bytes] | None = None) -> InclusionPlan:
    """The steps of PATH(index, D[size]) for each index and what they are made from: a
    step in ``known`` as it is, a stored one read, any other complete one folded from the
    two stored below it, the right edge tiled (:func:`merkle.range_root`)."""
    known = known or {}
    paths = {index: inclusion_steps(index, size) for index in indices}
    steps: set[Key] = set().union(*paths.values())
    missing = steps.difference(known)
    inputs: set[Key] = set()
    edges = []
    for level, index in missing:
        if level == RIGHT_EDGE:
            edges.append((index, size))
        elif level % STRIDE == 0:
            inputs.add((level, index))
        else:
            inputs.update(stored_inputs(level, index))
    inputs.update(stored_keys(subtrees_needed(edges)))
    reads = inputs.difference(known)
    return InclusionPlan(size, paths, list(steps), list(reads),
                         list((steps - missing) | (inputs - reads)),
                         [step for step in missing if step[0] != RIGHT_EDGE])


def step_roots(plan: InclusionPlan, hashes: Mapping[Key, bytes]) -> dict[Key, bytes]:
    """The root of every step of ``plan`` from the hashes it reads and knows (KeyError
    when one is missing)."""
    lookup = lookup_from(hashes)
    roots: dict[Key, bytes] = {}
    for step in plan.steps:
        level, index = step
        found = hashes.get(step)
        if found is not None:
            roots[step] = found
        elif level == RIGHT_EDGE:
            roots[step] = range_root(index, plan.size, lookup)
        elif level % STRIDE == 0:
            raise KeyError(f"stored subtree {step} was not read (or is missing)")
        else:
            roots[step] = fold([hashes[key] for key in stored_inputs(level, index)])
    return roots


def proofs_from(plan: InclusionPlan, roots: Mapping[Key, bytes]) -> dict[int, list[bytes]]:
    return {index: [roots[step] for step in path] for index, path in plan.paths.items()}


def inclusion_proofs(plan: InclusionPlan, hashes: Mapping[Key, bytes]) -> dict[int, list[bytes]]:
    """The proofs of ``plan``; each step shared by several proofs is made once."""
    return proofs_from(plan, step_roots(plan, hashes))


@dataclass(frozen=True)
class Frontier:
    """The right edge of a tree of ``size`` leaves: its tiling by complete subtrees."""

    size: int
    hashes: tuple[bytes, ...]

    def __post_init__(self) -> None:
        if len(self.hashes) != self.size.bit_count():
            raise ValueError(f"a tree of {self.size} leaves has {self.size.bit_count()} "
                             f"frontier subtrees, not {len(self.hashes)}")

    @classmethod
    def empty(cls) -> Frontier:
        return cls(0, ())

    @classmethod
    def decode(cls, size: int, packed: bytes) -> Frontier:
        if len(packed) != HASH_SIZE * size.bit_count():
            raise ValueError(f"a tree of {size} leaves has {size.bit_count()} frontier subtrees "
                             f"({HASH_SIZE * size.bit_count()} bytes), not {len(packed)} bytes")
        hashes = tuple(packed[i:i + HASH_SIZE] for i in range(0, len(packed), HASH_SIZE))
        return cls(size, hashes)

    def encode(self) -> bytes:
        return b"".join(self.hashes)

    def keys(self) -> list[Key]:
        """The frontier's subtrees ``(level, index)``, largest (leftmost) first."""
        keys, start = [], 0
        for level in range(self.size.bit_length() - 1, -1, -1):
            if self.size >> level & 1:
                keys.append((level, start >> level))
                start += 1 << level
        return keys

    def root(self) -> bytes:
        if not self.hashes:
            return EMPTY_ROOT
        acc = self.hashes[-1]
        for left in reversed(self.hashes[:-1]):
            acc = node_hash(left, acc)
        return acc


@dataclass(frozen=True)
class Growth:
    frontier: Frontier
    nodes: list[tuple[int, int, bytes]]
    """The interior subtrees ``(level, index, hash)`` completed on stored levels."""


def extend(frontier: Frontier, leaf_hashes: Sequence[bytes]) -> Growth:
    """Append ``leaf_hashes`` to the tree whose right edge is ``frontier``."""
    stack = [(level, index, digest)
             for (level, index), digest in zip(frontier.keys(), frontier.hashes, strict=True)]
    nodes: list[tuple[int, int, bytes]] = []
    size = frontier.size
    for digest in leaf_hashes:
        level, index, acc = 0, size, digest
        while index & 1:  # a right child completes its parent with the stack's top
            left = stack.pop()
            acc = node_hash(left[2], acc)
            level, index = level + 1, index >> 1
            if is_stored(level):
                nodes.append((level, index, acc))
        stack.append((level, index, acc))
        size += 1
    return Growth(Frontier(size, tuple(item[2] for item in stack)), nodes)
