"""The proofs' cache of complete subtrees: upper levels only, bounded, oldest first out."""

from __future__ import annotations

import uuid

from cxprism.ledger.subtree_cache import CACHED_FROM_LEVEL, SubtreeCache

A, B = uuid.UUID(int=1), uuid.UUID(int=2)


def digest(n: int) -> bytes:
    return (n % 256).to_bytes(32, "big")


def test_only_upper_levels_are_kept() -> None:
    cache = SubtreeCache(limit=100)
    cache.keep(A, [((level, 7), digest(level + 1)) for level in range(-1, 9)])
    assert set(cache.of(A)) == {(level, 7) for level in range(CACHED_FROM_LEVEL, 9)}
    assert cache.size == 9 - CACHED_FROM_LEVEL
    assert cache.of(B) == {}


def test_each_log_has_its_own_hashes() -> None:
    cache = SubtreeCache(limit=100)
    cache.keep(A, [((4, 0), digest(1))])
    cache.keep(B, [((4, 0), digest(2))])
    assert cache.of(A)[(4, 0)] == digest(1) and cache.of(B)[(4, 0)] == digest(2)


def test_keeping_a_hash_again_does_not_count_twice() -> None:
    cache = SubtreeCache(limit=100)
    for _ in range(3):
        cache.keep(A, [((4, n), digest(n)) for n in range(10)])
    assert cache.size == 10


def test_the_bound_drops_the_oldest_first() -> None:
    cache = SubtreeCache(limit=10)
    cache.keep(A, [((4, n), digest(n)) for n in range(6)])
    cache.keep(B, [((5, n), digest(n)) for n in range(6)])
    assert cache.size == 10
    assert set(cache.of(A)) == {(4, 2), (4, 3), (4, 4), (4, 5)}  # A's oldest two went
    assert len(cache.of(B)) == 6
    cache.keep(B, [((6, n), digest(n)) for n in range(8)])
    assert cache.size == 10
    assert cache.of(A) == {}  # a log emptied by the bound is dropped whole
    assert set(cache.of(B)) == {(5, 4), (5, 5)} | {(6, n) for n in range(8)}
