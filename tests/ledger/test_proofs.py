"""Batched inclusion proofs from storage: what the process caches of upper subtrees (loaded
whole, or kept as read) changes how much is read, never a proof, and never crosses from
one log to another."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from cxprism.kit.db import Database
from cxprism.ledger import proofs
from cxprism.ledger.layout import Frontier, Key
from cxprism.ledger.merkle import leaf_hash, verify_inclusion
from cxprism.ledger.proofs import ProofService
from cxprism.ledger.repository import LedgerRepository
from cxprism.ledger.service import LedgerService
from cxprism.ledger.subtree_cache import CACHED_FROM_LEVEL, SubtreeCache
from tests.fixtures.builders import Tenant
from tests.ledger.helpers import consent_event

SIZE = 300


async def build_log(db: Database, tenant: Tenant, first: int = 0) -> None:
    async with db.session() as session:
        await LedgerService(session, tenant.workspace_id).append(
            [consent_event(tenant.workspace_id, first + n) for n in range(SIZE)])
        await session.commit()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[list[Key]]:
    """A fresh cache, and the stored hashes each proof call reads one by one."""
    monkeypatch.setattr(proofs, "proofs_cache", SubtreeCache())
    counted: list[list[Key]] = []
    stored = LedgerRepository.stored

    async def counting(self: LedgerRepository, keys: Iterable[Key]) -> dict[Key, bytes]:
        keys = list(keys)
        counted.append(keys)
        return await stored(self, keys)

    monkeypatch.setattr(LedgerRepository, "stored", counting)
    return counted


async def prove_all(db: Database, tenant: Tenant) -> tuple[dict[int, list[bytes]], bytes,
                                                            list[bytes]]:
    async with db.session() as session:
        ledger = LedgerService(session, tenant.workspace_id)
        head = await ledger.head()
        found = await ProofService(ledger).inclusion_proofs(range(SIZE), SIZE)
        entries = [(await ledger.repo.entry_at(n)) for n in range(SIZE)]
        root = Frontier.decode(head.size, head.frontier).root()
    return found, root, [leaf_hash(e.entry) for e in entries if e is not None]


def verifies(found: dict[int, list[bytes]], root: bytes, leaves: list[bytes]) -> bool:
    return len(leaves) == SIZE and all(
        verify_inclusion(leaves[n], n, SIZE, found[n], root) for n in range(SIZE))


async def test_upper_levels_are_loaded_whole_not_read_one_by_one(
        db: Database, tenant: Tenant, reads: list[list[Key]]) -> None:
    await build_log(db, tenant)
    first, root, leaves = await prove_all(db, tenant)
    assert verifies(first, root, leaves)
    assert reads[0] and all(level < CACHED_FROM_LEVEL for level, _ in reads[0])
    assert proofs.proofs_cache.loaded_size(tenant.workspace_id) == SIZE
    again, _, _ = await prove_all(db, tenant)
    assert again == first


async def test_a_log_too_large_to_load_keeps_what_proofs_read(
        db: Database, tenant: Tenant, reads: list[list[Key]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Room for level 4 (18 subtrees of 300 leaves) once read, not for loading it whole.
    monkeypatch.setattr(proofs, "proofs_cache", SubtreeCache(limit=46))
    await build_log(db, tenant)
    cold, root, leaves = await prove_all(db, tenant)
    assert verifies(cold, root, leaves)
    assert any(level == CACHED_FROM_LEVEL for level, _ in reads[0])
    warm, _, _ = await prove_all(db, tenant)
    assert warm == cold
    assert not any(level >= CACHED_FROM_LEVEL for level, _ in reads[1])
    assert len(reads[1]) < len(reads[0])


async def test_one_logs_cached_subtrees_never_serve_another(
        db: Database, tenant: Tenant, other_tenant: Tenant, reads: list[list[Key]]) -> None:
    await build_log(db, tenant)
    await build_log(db, other_tenant, first=SIZE)  # other events: other hashes
    mine, _, _ = await prove_all(db, tenant)
    theirs, root, leaves = await prove_all(db, other_tenant)
    assert verifies(theirs, root, leaves)
    assert mine[0] != theirs[0]
