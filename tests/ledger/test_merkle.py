"""The pure Merkle core against RFC 9162 section 2.1, checked exhaustively and by property."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxprism.ledger.merkle import (
    EMPTY_ROOT,
    MemoryTree,
    append_subtrees,
    consistency_path_ranges,
    consistency_proof,
    inclusion_path_ranges,
    inclusion_proof,
    leaf_hash,
    node_hash,
    range_root,
    root,
    subtrees_for_range,
    subtrees_needed,
    verify_consistency,
    verify_inclusion,
)

# ---------------------------------------------------------------------------
# An independent, deliberately naive reading of RFC 9162 2.1 (lists and slices).


def _sha(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def naive_mth(leaves: Sequence[bytes]) -> bytes:
    """MTH over raw leaf data, straight from the definition."""
    if not leaves:
        return _sha(b"")
    if len(leaves) == 1:
        return _sha(b"\x00" + leaves[0])
    k = _k(len(leaves))
    return _sha(b"\x01" + naive_mth(leaves[:k]) + naive_mth(leaves[k:]))


def naive_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    """PATH(m, D[n])."""
    if len(leaves) == 1:
        return []
    k = _k(len(leaves))
    if m < k:
        return [*naive_path(m, leaves[:k]), naive_mth(leaves[k:])]
    return [*naive_path(m - k, leaves[k:]), naive_mth(leaves[:k])]


def naive_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    """SUBPROOF(m, D[n], b)."""
    n = len(leaves)
    if m == n:
        return [] if b else [naive_mth(leaves)]
    k = _k(n)
    if m <= k:
        return [*naive_subproof(m, leaves[:k], b), naive_mth(leaves[k:])]
    return [*naive_subproof(m - k, leaves[k:], False), naive_mth(leaves[:k])]


# ---------------------------------------------------------------------------
# Shared trees. Leaves are distinct so no two subtrees hash alike by accident.

MAX = 1100
DATA = [b"leaf-%d" % i for i in range(MAX)]
LEAVES = [leaf_hash(d) for d in DATA]
TREE = MemoryTree(LEAVES)


def bounded(size: int) -> Callable[[int, int], bytes]:
    """A lookup that fails if asked for a subtree not complete in a tree of ``size``."""

    def lookup(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, (level, index, size)
        return TREE.subtree(level, index)

    return lookup


@cache
def root_of(size: int) -> bytes:
    return root(LEAVES[:size])


# ---------------------------------------------------------------------------
# Known answers.

KAT_DATA = [bytes.fromhex(h) for h in (
    "", "00", "10", "2021", "3031", "40414243", "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
)]


def test_empty_root() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert root([]) == EMPTY_ROOT
    assert MemoryTree().root() == EMPTY_ROOT


def test_hash_prefixes() -> None:
    assert leaf_hash(b"abc") == _sha(b"\x00abc")
    assert node_hash(b"l", b"r") == _sha(b"\x01lr")


def test_known_root_of_eight_leaves() -> None:
    hashes = [leaf_hash(d) for d in KAT_DATA]
    expected = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    assert root(hashes).hex() == expected
    assert MemoryTree(hashes).root().hex() == expected


def test_every_prefix_root_matches_the_definition() -> None:
    hashes = [leaf_hash(d) for d in KAT_DATA]
    tree = MemoryTree(hashes)
    for n in range(len(KAT_DATA) + 1):
        assert root(hashes[:n]) == naive_mth(KAT_DATA[:n])
        assert tree.root(n) == naive_mth(KAT_DATA[:n])


def test_roots_match_the_definition_up_to_130() -> None:
    for n in range(131):
        assert root(LEAVES[:n]) == naive_mth(DATA[:n]) == TREE.root(n)


# ---------------------------------------------------------------------------
# Proof generation equals the RFC's PATH and PROOF, exhaustively up to 64 leaves.


def test_inclusion_proofs_equal_rfc_path_exhaustively() -> None:
    for n in range(1, 65):
        for m in range(n):
            proof = inclusion_proof(m, n, bounded(n))
            assert proof == naive_path(m, DATA[:n]), (m, n)
            assert verify_inclusion(LEAVES[m], m, n, proof, root_of(n))


def test_consistency_proofs_equal_rfc_proof_exhaustively() -> None:
    for n in range(1, 65):
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, bounded(n))
            assert proof == naive_subproof(m, DATA[:n], True), (m, n)
            assert verify_consistency(m, n, root_of(m), root_of(n), proof)


def test_consistency_from_the_empty_tree() -> None:
    assert consistency_proof(0, 5, bounded(5)) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, root_of(5), [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, root_of(1), root_of(5), [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root_of(5), [root_of(5)])


@pytest.mark.parametrize(("start", "end", "tiles"), [
    (0, 0, []),
    (0, 1, [(0, 0)]),
    (0, 7, [(2, 0), (1, 2), (0, 6)]),
    (8, 13, [(2, 2), (0, 12)]),
    (3, 9, [(0, 3), (2, 1), (0, 8)]),  # unaligned start: greedy tiling
])
def test_subtrees_for_range(start: int, end: int, tiles: list[tuple[int, int]]) -> None:
    assert subtrees_for_range(start, end) == tiles


def test_range_root_rejects_ranges_that_are_not_tree_nodes() -> None:
    with pytest.raises(ValueError, match="not a node"):
        range_root(3, 9, bounded(9))
    with pytest.raises(ValueError, match="not a node"):
        range_root(4, 4, bounded(9))


def test_generators_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_path_ranges(5, 5)
    with pytest.raises(ValueError, match="out of order"):
        consistency_path_ranges(6, 5)


def test_memory_tree_refuses_incomplete_subtrees() -> None:
    tree = MemoryTree(LEAVES[:5])
    assert tree.subtree(2, 0) == root(LEAVES[:4])
    with pytest.raises(KeyError):
        tree.subtree(1, 2)  # leaves 4..5: only one of them exists
    tree.append(LEAVES[5])
    assert tree.subtree(1, 2) == node_hash(LEAVES[4], LEAVES[5])
    assert tree.size == 6


# ---------------------------------------------------------------------------
# O(log n) reads.


class Counter:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, level: int, index: int) -> bytes:
        self.calls += 1
        return bytes(32)


BIG = 1_000_000
BIG_BOUND = 2 * math.ceil(math.log2(BIG)) + 2


def _lookups(index: int, size: int) -> int:
    counter = Counter()
    proof = inclusion_proof(index, size, counter)
    assert len(proof) == len(inclusion_path_ranges(index, size))
    return counter.calls


def test_inclusion_lookups_in_a_million_leaf_tree_are_logarithmic() -> None:
    # The worst case has the deepest path through the ragged right edge.
    indices = [0, 1, BIG // 2, 524_287, 524_288, 786_431, 999_423, 999_424, 999_998, 999_999]
    worst = max(_lookups(i, BIG) for i in indices)
    assert worst <= BIG_BOUND, worst
    # The batched form names the same reads, so a store can fetch them in one query.
    assert len(subtrees_needed(inclusion_path_ranges(999_423, BIG))) <= BIG_BOUND


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=BIG - 1))
def test_inclusion_lookups_are_logarithmic_for_any_index(index: int) -> None:
    assert _lookups(index, BIG) <= BIG_BOUND


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=BIG - 1))
def test_consistency_lookups_are_logarithmic(old: int) -> None:
    counter = Counter()
    consistency_proof(old, BIG, counter)
    assert counter.calls <= BIG_BOUND


# ---------------------------------------------------------------------------
# Symbolic shapes: which proof element goes where. Two (index, size) or (m, n)
# pairs with the same shape accept exactly the same proofs, so when a test changes
# a size, verification must fail unless the shape is unchanged.


def _fold(ranges: list[tuple[int, int]], first: Any, elements: list[Any], old: int
          ) -> tuple[Any, Any]:
    lo, hi = ranges[0]
    new_expr = old_expr = first
    for (a, b), element in zip(ranges[1:], elements, strict=True):
        # Each sibling must sit right next to what has been built so far.
        if b == lo:
            new_expr = ("node", element, new_expr)
            if b <= old:
                old_expr = ("node", element, old_expr)
            lo = a
        else:
            assert a == hi, (a, hi)
            new_expr = ("node", new_expr, element)
            hi = b
    assert lo == 0  # the fold must end at the root, which starts at leaf 0
    return old_expr, new_expr


def inclusion_shape(index: int, size: int) -> Any:
    ranges = [(index, index + 1), *inclusion_path_ranges(index, size)]
    elements = [("p", j) for j in range(len(ranges) - 1)]
    return _fold(ranges, "leaf", elements, 0)[1]


def consistency_shape(m: int, n: int) -> Any:
    ranges = consistency_path_ranges(m, n)
    elements: list[Any] = [("p", j) for j in range(len(ranges))]
    if m & (m - 1) == 0:
        ranges, elements = [(0, m), *ranges], ["old", *elements]
    return _fold(ranges, elements[0], elements[1:], m)


def _flip_each_bit(proof: list[bytes]) -> list[list[bytes]]:
    out = []
    for i, element in enumerate(proof):
        for bit in range(256):
            changed = bytearray(element)
            changed[bit // 8] ^= 1 << (bit % 8)
            out.append([*proof[:i], bytes(changed), *proof[i + 1:]])
    return out


def _reorderings(proof: list[bytes]) -> list[list[bytes]]:
    out = []
    for i in range(len(proof)):
        for j in range(i + 1, len(proof)):
            if proof[i] != proof[j]:
                swapped = list(proof)
                swapped[i], swapped[j] = swapped[j], swapped[i]
                out.append(swapped)
    return out


def _mutations(proof: list[bytes]) -> list[list[bytes]]:
    """Every flipped bit, every truncation, extensions, and every differing swap."""
    truncated = [proof[:k] for k in range(len(proof))]
    extended = [[*proof, bytes(32)], [*proof, proof[-1]] if proof else [bytes(32)],
                [bytes(32), *proof]]
    return _flip_each_bit(proof) + truncated + extended + _reorderings(proof)


sizes = st.integers(min_value=1, max_value=MAX - 1)


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(min_value=2, max_value=MAX - 1))
    return draw(st.integers(min_value=1, max_value=new - 1)), new


@settings(max_examples=150, deadline=None)
@given(index_and_size())
def test_inclusion_proofs_verify_and_resist_tampering(case: tuple[int, int]) -> None:
    index, size = case
    proof = inclusion_proof(index, size, bounded(size))
    good_root, leaf = root_of(size), LEAVES[index]
    assert verify_inclusion(leaf, index, size, proof, good_root)

    for bad in _mutations(proof):
        assert not verify_inclusion(leaf, index, size, bad, good_root)
    assert not verify_inclusion(LEAVES[index + 1], index, size, proof, good_root)
    assert not verify_inclusion(leaf, index, size, proof, root_of(size + 1))
    assert not verify_inclusion(leaf, index, size, proof, node_hash(good_root, good_root))
    for other in {0, index - 1, index + 1, size - 1, size, size + 7}:
        if other != index:
            assert not verify_inclusion(leaf, other, size, proof, good_root), other
    shape = inclusion_shape(index, size)
    for other in {size - 1, size + 1, size * 2, max(1, size // 2), 1 << size.bit_length()}:
        if other != size:
            expected = index < other and inclusion_shape(index, other) == shape
            assert verify_inclusion(leaf, index, other, proof, good_root) == expected, other


@settings(max_examples=150, deadline=None)
@given(old_and_new())
def test_consistency_proofs_verify_and_resist_tampering(case: tuple[int, int]) -> None:
    old, new = case
    proof = consistency_proof(old, new, bounded(new))
    old_root, new_root = root_of(old), root_of(new)
    assert verify_consistency(old, new, old_root, new_root, proof)

    for bad in _mutations(proof):
        assert not verify_consistency(old, new, old_root, new_root, bad)
    assert not verify_consistency(old, new, root_of(old - 1), new_root, proof)
    assert not verify_consistency(old, new, old_root, root_of(new + 1), proof)
    assert not verify_consistency(old, new, new_root, old_root, proof)
    shape = consistency_shape(old, new)
    others = {(old + d1, new + d2) for d1 in (-1, 0, 1) for d2 in (-1, 0, 1)}
    others |= {(old, new * 2), (old * 2, new), (0, new), (new, old)}
    for m, n in others - {(old, new)}:
        expected = 0 < m < n and consistency_shape(m, n) == shape
        assert verify_consistency(m, n, old_root, new_root, proof) == expected, (m, n)


@settings(max_examples=60, deadline=None)
@given(old_and_new())
def test_consistency_proof_of_a_forked_log_fails(case: tuple[int, int]) -> None:
    old, new = case
    forked = MemoryTree([*LEAVES[:old - 1], leaf_hash(b"forged"), *LEAVES[old:new]])
    proof = consistency_proof(old, new, forked.subtree)
    assert verify_consistency(old, new, forked.root(old), forked.root(new), proof)
    assert not verify_consistency(old, new, root_of(old), forked.root(new), proof)


# ---------------------------------------------------------------------------
# Malformed input: False, never an exception.

H = bytes(32)


@pytest.mark.parametrize("args", [
    (H, 0, 0, [], H),  # empty tree holds no leaf
    (H, 1, 1, [], H),  # index == size
    (H, -1, 2, [H], H),
    (H, 0, -1, [], H),
    (H[:31], 0, 1, [], H[:31]),
    (H + b"\x00", 0, 1, [], H),
    (H, 0, 2, [H[:31]], H),
    (H, 0, 2, [H + b"\x00"], H),
    (H, 0, 2, ["0" * 32], H),
    (H, 0, 2, [None], H),
    (H, 0, 2, None, H),
    (H, 0, 2, b"\x00" * 32, H),
    (H, 0, 2, [bytearray(32)], H),
    (H, True, 2, [H], H),
    (H, 0, 2.0, [H], H),
    (H, "0", 2, [H], H),
    ("x" * 32, 0, 1, [], "x" * 32),
    (H, 0, 1, [H], H),  # too long for a one-leaf tree
    (H, 0, 4, [H], H),  # too short
])
def test_verify_inclusion_rejects_malformed_input(args: tuple[Any, ...]) -> None:
    assert verify_inclusion(*args) is False


@pytest.mark.parametrize("args", [
    (2, 1, H, H, []),  # sizes out of order
    (2, 1, H, H, [H]),
    (-1, 2, H, H, [H]),
    (1, -2, H, H, [H]),
    (1, 2, H, H, []),  # proof too short
    (1, 2, H, H, [H, H, H]),  # too long
    (1, 1, H, node_hash(H, H), []),  # same size, different roots
    (1, 1, H, H, [H]),  # same size needs no proof
    (1, 2, H[:31], H, [H]),
    (1, 2, H, H + b"\x00", [H]),
    (1, 2, H, H, [H[:31]]),
    (1, 2, H, H, ["x" * 32]),
    (1, 2, H, H, None),
    (1, 2, H, H, H),
    (True, 2, H, H, [H]),
    (1, 2.0, H, H, [H]),
    (1, "2", H, H, [H]),
])
def test_verify_consistency_rejects_malformed_input(args: tuple[Any, ...]) -> None:
    assert verify_consistency(*args) is False


def test_single_leaf_and_equal_sizes_are_trivially_provable() -> None:
    assert inclusion_proof(0, 1, bounded(1)) == []
    assert verify_inclusion(LEAVES[0], 0, 1, [], LEAVES[0])
    assert verify_consistency(7, 7, root_of(7), root_of(7), [])


# ---------------------------------------------------------------------------
# Appending: the store receives exactly the complete subtrees, with their hashes.


def _append_all(count: int) -> tuple[dict[tuple[int, int], bytes], int]:
    stored: dict[tuple[int, int], bytes] = {}
    returned = 0
    for size in range(count):
        # The lookup is the store itself: a KeyError means append asked for
        # something it had not handed out before.
        created = append_subtrees(size, LEAVES[size], _reader(stored))
        returned += len(created)
        for level, index, digest in created:
            assert (level, index) not in stored
            stored[(level, index)] = digest
    return stored, returned


def _reader(stored: dict[tuple[int, int], bytes]) -> Callable[[int, int], bytes]:
    return lambda level, index: stored[(level, index)]


def _complete_subtrees(size: int) -> set[tuple[int, int]]:
    return {(lv, ix) for lv in range(size.bit_length()) for ix in range(size >> lv)}


def test_append_subtrees_step_by_step_up_to_64() -> None:
    for count in range(65):
        stored, returned = _append_all(count)
        assert set(stored) == _complete_subtrees(count)
        assert returned == len(stored) <= 2 * count
        for (level, index), digest in stored.items():
            assert digest == TREE.subtree(level, index)
        if count:
            assert range_root(0, count, _reader(stored)) == root_of(count)


@settings(max_examples=25, deadline=None)
@given(st.integers(min_value=0, max_value=MAX))
def test_append_subtrees_yields_the_complete_subtrees(count: int) -> None:
    stored, returned = _append_all(count)
    assert set(stored) == _complete_subtrees(count)
    # Amortised two per leaf: exactly 2n - popcount(n).
    assert returned == 2 * count - count.bit_count()
    assert all(d == TREE.subtree(lv, ix) for (lv, ix), d in stored.items())
