"""The stored-levels layout: appends in batches build the RFC tree and store exactly the
complete subtrees on levels 2, 4, ...; proofs read from those alone match MemoryTree's."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cxprism.ledger import merkle
from cxprism.ledger.layout import (
    RIGHT_EDGE,
    STRIDE,
    Frontier,
    Key,
    extend,
    fold,
    inclusion_plan,
    inclusion_proofs,
    inclusion_steps,
    lookup_from,
    stored_inputs,
    stored_keys,
)
from cxprism.ledger.merkle import MemoryTree

MAX_LEAVES = 600


@cache
def leaves(count: int) -> tuple[bytes, ...]:
    return tuple(merkle.leaf_hash(b"leaf %d" % n) for n in range(count))


@cache
def memory_tree(count: int) -> MemoryTree:
    return MemoryTree(leaves(count))


def expected_nodes(count: int) -> set[tuple[int, int, bytes]]:
    """Every complete subtree on a stored interior level, from MemoryTree."""
    tree, found = memory_tree(count), set()
    level = STRIDE
    while 1 << level <= count:
        found |= {(level, i, tree.subtree(level, i)) for i in range(count >> level)}
        level += STRIDE
    return found


def grow(batches: list[tuple[bytes, ...]]) -> tuple[Frontier, list[tuple[int, int, bytes]]]:
    frontier, nodes = Frontier.empty(), []
    for batch in batches:
        growth = extend(frontier, batch)
        frontier = growth.frontier
        nodes += growth.nodes
    return frontier, nodes


@st.composite
def split_log(draw: st.DrawFn) -> tuple[int, list[tuple[bytes, ...]]]:
    """A leaf count and the leaves cut into consecutive (possibly empty) append batches."""
    count = draw(st.integers(0, MAX_LEAVES))
    cuts = sorted(draw(st.lists(st.integers(0, count), max_size=12)))
    bounds = [0, *cuts, count]
    return count, [leaves(count)[a:b] for a, b in pairwise(bounds)]


# ---------------------------------------------------------------------------
# Growing the tree.


@settings(max_examples=100, deadline=None)
@given(split_log())
def test_batched_appends_build_the_rfc_tree(case: tuple[int, list[tuple[bytes, ...]]]) -> None:
    count, batches = case
    frontier, nodes = grow(batches)
    assert frontier.size == count
    assert frontier.root() == merkle.root(leaves(count))
    assert frontier == extend(Frontier.empty(), leaves(count)).frontier
    tiles = merkle.subtrees_for_range(0, count)
    assert frontier.keys() == tiles
    assert frontier.hashes == tuple(memory_tree(count).subtree(*key) for key in tiles)
    assert len(nodes) == len(set(nodes)), "a stored subtree was emitted twice"
    assert set(nodes) == expected_nodes(count)


def test_known_counts_of_stored_nodes() -> None:
    assert STRIDE == 2  # the known answers below are for levels 2, 4, 6, ...
    assert extend(Frontier.empty(), leaves(3)).nodes == []
    assert [n[:2] for n in extend(Frontier.empty(), leaves(4)).nodes] == [(2, 0)]
    grown = extend(Frontier.empty(), leaves(16)).nodes
    assert sorted(n[:2] for n in grown) == [(2, i) for i in range(4)] + [(4, 0)]
    assert len(extend(Frontier.empty(), leaves(256)).nodes) == 64 + 16 + 4 + 1


def test_empty_batches_change_nothing() -> None:
    frontier = extend(Frontier.empty(), leaves(37)).frontier
    again = extend(frontier, [])
    assert again.frontier == frontier
    assert again.nodes == []
    assert Frontier.empty().root() == merkle.EMPTY_ROOT


@settings(max_examples=100, deadline=None)
@given(st.integers(0, MAX_LEAVES))
def test_frontier_encoding_round_trips(count: int) -> None:
    frontier = extend(Frontier.empty(), leaves(count)).frontier
    packed = frontier.encode()
    assert len(packed) == merkle.HASH_SIZE * count.bit_count()
    assert Frontier.decode(count, packed) == frontier


@pytest.mark.parametrize(("size", "hash_count"), [(0, 1), (1, 0), (3, 1), (4, 2), (7, 2)])
def test_frontier_with_the_wrong_number_of_hashes_is_refused(size: int,
                                                             hash_count: int) -> None:
    hashes = leaves(hash_count)
    with pytest.raises(ValueError, match="frontier subtrees"):
        Frontier(size, hashes)
    with pytest.raises(ValueError, match="frontier subtrees"):
        Frontier.decode(size, b"".join(hashes))


def test_frontier_decode_refuses_truncated_hashes() -> None:
    packed = extend(Frontier.empty(), leaves(3)).frontier.encode()
    with pytest.raises(ValueError):
        Frontier.decode(3, packed[:-31])


# ---------------------------------------------------------------------------
# Folding and stored inputs.


@pytest.mark.parametrize("count", [0, 3, 5, 6, 7, 12])
def test_fold_refuses_a_non_power_of_two(count: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        fold(leaves(count))


@pytest.mark.parametrize("level", [0, 1, 2, 3, 4, 5])
def test_fold_gives_the_complete_subtree(level: int) -> None:
    tree = memory_tree(64)
    assert fold(leaves(64)[32:32 + (1 << level)]) == tree.subtree(level, 32 >> level)


def test_stored_inputs_known_answers() -> None:
    assert stored_inputs(0, 9) == [(0, 9)]
    assert stored_inputs(4, 3) == [(4, 3)]
    assert stored_inputs(1, 4) == [(0, 8), (0, 9)]
    assert stored_inputs(3, 1) == [(2, 2), (2, 3)]
    assert stored_inputs(9, 0) == [(8, 0), (8, 1)]
    assert stored_keys([(1, 0), (0, 1), (2, 0), (3, 0)]) == [(0, 0), (0, 1), (2, 0), (2, 1)]


# ---------------------------------------------------------------------------
# Proofs from the stored subtrees alone.


@cache
def full_store(count: int) -> dict[Key, bytes]:
    """What the ledger stores for ``count`` leaves: leaf hashes and the stored nodes."""
    store: dict[Key, bytes] = {(0, i): digest for i, digest in enumerate(leaves(count))}
    store.update({(level, i): d for level, i, d in extend(Frontier.empty(), leaves(count)).nodes})
    return store


def read_for(count: int, ranges: list[merkle.Range]) -> dict[Key, bytes]:
    """The stored rows a proof service reads: only the keys the ranges need."""
    keys = stored_keys(merkle.subtrees_needed(ranges))
    store = full_store(count)
    assert all(key in store for key in keys), "a needed subtree is not on a stored level"
    return {key: store[key] for key in keys}


def assert_each_key_is_needed(stored: dict[Key, bytes],
                              build: Callable[[merkle.SubtreeLookup], list[bytes]]) -> None:
    for key in stored:
        missing = {k: v for k, v in stored.items() if k != key}
        with pytest.raises(KeyError):
            build(lookup_from(missing))


@st.composite
def leaf_in_log(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, MAX_LEAVES))
    return draw(st.integers(0, size - 1)), size


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(st.integers(1, MAX_LEAVES))
    return draw(st.integers(0, new)), new


@settings(max_examples=100, deadline=None)
@given(leaf_in_log())
def test_inclusion_proofs_from_stored_subtrees(case: tuple[int, int]) -> None:
    index, size = case
    stored = read_for(size, merkle.inclusion_path_ranges(index, size))
    expected = merkle.inclusion_proof(index, size, memory_tree(size).subtree)
    assert merkle.inclusion_proof(index, size, lookup_from(stored)) == expected
    assert merkle.verify_inclusion(leaves(size)[index], index, size, expected,
                                   merkle.root(leaves(size)))
    assert_each_key_is_needed(stored, lambda look: merkle.inclusion_proof(index, size, look))


@settings(max_examples=100, deadline=None)
@given(two_sizes())
def test_consistency_proofs_from_stored_subtrees(case: tuple[int, int]) -> None:
    old, new = case
    stored = read_for(new, merkle.consistency_path_ranges(old, new))
    expected = merkle.consistency_proof(old, new, memory_tree(new).subtree)
    assert merkle.consistency_proof(old, new, lookup_from(stored)) == expected
    assert merkle.verify_consistency(old, new, merkle.root(leaves(old)),
                                     merkle.root(leaves(new)), expected)
    assert_each_key_is_needed(stored, lambda look: merkle.consistency_proof(old, new, look))


def test_a_large_proof_reads_few_stored_rows() -> None:
    size = MAX_LEAVES
    for index in (0, 255, 256, 511, size - 1):
        stored = read_for(size, merkle.inclusion_path_ranges(index, size))
        assert len(stored) <= 2 * size.bit_length()


def test_lookup_reports_the_missing_stored_key() -> None:
    with pytest.raises(KeyError, match=r"\(4, 0\)"):
        lookup_from({})(5, 0)
    with pytest.raises(KeyError, match=r"\(2, 2\)"):
        lookup_from({(2, 3): b"x" * 32})(3, 1)


@st.composite
def leaves_in_log(draw: st.DrawFn) -> tuple[list[int], int]:
    size = draw(st.integers(1, MAX_LEAVES))
    return draw(st.lists(st.integers(0, size - 1), min_size=1, max_size=40)), size


@settings(max_examples=150, deadline=None)
@given(leaves_in_log())
def test_batched_inclusion_proofs_are_the_rfc_proofs(case: tuple[list[int], int]) -> None:
    indices, size = case
    plan = inclusion_plan(indices, size)
    store = full_store(size)
    assert set(plan.reads) <= store.keys(), "a read is not on a stored level"
    proofs = inclusion_proofs(plan, {key: store[key] for key in plan.reads})
    assert set(proofs) == set(indices)
    for index in indices:
        expected = merkle.inclusion_proof(index, size, memory_tree(size).subtree)
        assert proofs[index] == expected
        assert merkle.verify_inclusion(leaves(size)[index], index, size, proofs[index],
                                       merkle.root(leaves(size)))
    needed = set(read_for(size, [r for i in indices for r in merkle.inclusion_path_ranges(
        i, size)]))
    assert set(plan.reads) == needed  # reads exactly what the one-at-a-time path reads


@settings(max_examples=60, deadline=None)
@given(leaf_in_log())
def test_every_read_of_a_batched_proof_is_needed(case: tuple[int, int]) -> None:
    index, size = case
    plan = inclusion_plan([index], size)
    store = {key: full_store(size)[key] for key in plan.reads}
    for key in store:
        with pytest.raises(KeyError):
            inclusion_proofs(plan, {k: v for k, v in store.items() if k != key})


@pytest.mark.parametrize(("index", "size"), [(5, 5), (-1, 4), (0, 0)])
def test_batched_inclusion_refuses_a_leaf_outside_the_tree(index: int, size: int) -> None:
    with pytest.raises(ValueError, match="not in a tree"):
        inclusion_plan([index], size)


def _as_range(step: Key, size: int) -> merkle.Range:
    level, index = step
    return (index, size) if level == RIGHT_EDGE else (index << level, (index + 1) << level)


def test_inclusion_steps_are_the_rfc_path_for_every_small_tree() -> None:
    for size in range(1, 300):
        for index in range(size):
            steps = inclusion_steps(index, size)
            assert [_as_range(s, size) for s in steps] == merkle.inclusion_path_ranges(
                index, size), (index, size)
            edge = [s for s in steps if s[0] == RIGHT_EDGE]
            assert len(edge) <= 1  # and it is the one range that is not a complete subtree
            assert all((size - s[1]) & (size - s[1] - 1) for s in edge)


@settings(max_examples=500, deadline=None)
@given(st.integers(1, 2**48).flatmap(lambda size: st.tuples(st.integers(0, size - 1),
                                                            st.just(size))))
def test_inclusion_steps_are_the_rfc_path_in_huge_trees(case: tuple[int, int]) -> None:
    index, size = case
    assert [_as_range(s, size) for s in inclusion_steps(index, size)] == \
        merkle.inclusion_path_ranges(index, size)


@settings(max_examples=150, deadline=None)
@given(leaves_in_log(), st.data())
def test_known_subtrees_are_used_not_read(case: tuple[list[int], int], data: st.DataObject
                                          ) -> None:
    """What the caller knows (a proof cache) is taken as it is: never read again, and the
    proofs made with it are the RFC's."""
    indices, size = case
    tree = memory_tree(size)
    complete = [(level, i) for level in range(size.bit_length())
                for i in range(size >> level)]
    chosen = data.draw(st.lists(st.sampled_from(complete), unique=True, max_size=60))
    known = {key: tree.subtree(*key) for key in chosen}
    plan = inclusion_plan(indices, size, known)
    assert not set(plan.reads) & known.keys()
    assert set(plan.known) <= known.keys()
    store = full_store(size)
    hashes = {key: known[key] for key in plan.known} | {key: store[key] for key in plan.reads}
    proofs = inclusion_proofs(plan, hashes)
    for index in indices:
        assert proofs[index] == merkle.inclusion_proof(index, size, tree.subtree)
    cold = inclusion_plan(indices, size)
    assert len(plan.reads) <= len(cold.reads)
    assert set(plan.reads) <= set(cold.reads)
