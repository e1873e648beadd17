"""Receipts, consistency bundles and the audit, read from a workspace's stored log."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from itertools import chain
from typing import Any

import orjson

from cxprism.conversations.service import ConversationService
from cxprism.kit.errors import NotFound, Unprocessable
from cxprism.ledger import keys, receipts
from cxprism.ledger.audit import Auditor, AuditReport
from cxprism.ledger.checkpoint import CheckpointError, VerifierKey, open_signed
from cxprism.ledger.entries import CUSTOMER_FIELDS, MESSAGE_TYPES, content_commitment
from cxprism.ledger.layout import STRIDE, Frontier, Key, inclusion_plan, proofs_from, step_roots
from cxprism.ledger.models import LedgerCheckpoint, LedgerEntry
from cxprism.ledger.service import LedgerService
from cxprism.ledger.subtree_cache import LOAD_SHARE, load_from_level, proofs_cache

AUDIT_PAGE = 5000


class ProofService:
    def __init__(self, ledger: LedgerService) -> None:
        self.ledger = ledger
        self.repo = ledger.repo

    async def entry(self, index: int) -> LedgerEntry:
        found = await self.repo.entry_at(index)
        if found is None:
            raise NotFound(f"The ledger has no entry {index}.")
        return found

    async def entry_of_event(self, event_id: uuid.UUID) -> LedgerEntry:
        found = await self.repo.entry_of_event(event_id)
        if found is None:
            raise NotFound("No ledger entry records this event (not ledgered, or not yet).")
        return found

    async def receipt(self, entry: LedgerEntry, size: int | None = None) -> dict[str, Any]:
        """The entry's receipt against the checkpoint of ``size`` (default: the latest,
        signed now if the entry is newer than every checkpoint)."""
        checkpoint = await self._covering(entry.idx, size)
        proof = await self.inclusion_proofs([entry.idx], checkpoint.size)
        return receipts.receipt(entry.idx, entry.entry, proof[entry.idx], checkpoint.note)

    async def receipts(self, indices: Sequence[int], size: int | None = None
                       ) -> list[dict[str, Any]]:
        """Receipts for many entries against one checkpoint (``size`` as for
        :meth:`receipt`), their proofs made together: each shared step once."""
        wanted = list(dict.fromkeys(indices))
        entries = await self.repo.entries_at(wanted)
        missing = [index for index in wanted if index not in entries]
        if missing:
            raise NotFound(f"The ledger has no entry {missing[0]}"
                           + (f" (nor {len(missing) - 1} more of those asked)."
                              if len(missing) > 1 else "."),
                           details={"missing": missing[:100]})
        checkpoint = await self._covering(max(wanted), size)
        proofs = await self.inclusion_proofs(wanted, checkpoint.size)
        return [receipts.receipt(index, entries[index].entry, proofs[index], checkpoint.note)
                for index in wanted]

    async def _covering(self, index: int, size: int | None) -> LedgerCheckpoint:
        if size is not None:
            checkpoint = await self.ledger.checkpoint(size)
            if checkpoint.size <= index:
                raise Unprocessable(f"The checkpoint of size {size} does not hold entry "
                                    f"{index}; choose a larger one.", code="not_covered")
            return checkpoint
        latest = await self.repo.latest_checkpoint()
        if latest is None or latest.size <= index:
            latest = await self.ledger.sign_checkpoint()
        return latest

    async def opening(self, entry: LedgerEntry) -> dict[str, Any]:
        """Who an entry's commitments stand for (while they are not erased), and, for a
        message, whether what it says now is what the entry committed to."""
        data = orjson.loads(entry.entry)["data"]
        commitments = _customer_commitments(data)
        opened = await self.repo.openings(commitments)
        customers = [{"commitment": c, "customer_id": opened[c][0], "salt": receipts.b64(
            opened[c][1])} for c in commitments if c in opened]
        return {"index": entry.idx, "customers": customers,
                "content": await self._content_check(entry, data, opened)}

    async def _content_check(self, entry: LedgerEntry, data: dict[str, Any],
                             opened: dict[str, tuple[uuid.UUID, bytes]]) -> Any:
        if entry.event_type not in MESSAGE_TYPES or data.get("content") is None:
            return None
        message_id, owner = uuid.UUID(data["message_id"]), opened.get(data["customer_id"])
        current = (await ConversationService(self.repo.session, self.repo.workspace_id)
                   .contents_of([message_id])).get(message_id)
        if owner is None or current is None:
            return {"commitment": data["content"], "message": None, "matches": None}
        recomputed = content_commitment(owner[1], message_id, current)
        return {"commitment": data["content"], "message": current,
                "matches": recomputed == data["content"]}

    async def inclusion_proofs(self, indices: Sequence[int], size: int) -> dict[int, list[bytes]]:
        """Inclusion proofs for many leaves of the tree of ``size``: each distinct step is
        made once for the whole batch, the upper ones from this process's cache of complete
        subtrees (``ledger.subtree_cache``), the rest from one read per stored level."""
        workspace = self.repo.workspace_id
        await self._load_upper_levels(size)
        cached = proofs_cache.of(workspace)
        plan = inclusion_plan(indices, size, cached)
        hashes = {key: cached[key] for key in plan.known}  # taken before the read awaits
        read = await self.repo.stored(plan.reads)
        hashes.update(read)
        roots = step_roots(plan, hashes)
        proofs_cache.keep(workspace, chain(read.items(), ((k, roots[k]) for k in plan.made)))
        return proofs_from(plan, roots)

    async def _load_upper_levels(self, size: int) -> None:
        """Load the log's upper stored levels up to ``size`` (only what grew since the last
        load): one range read per level, from the lowest level the cache can hold whole."""
        workspace = self.repo.workspace_id
        loaded = proofs_cache.loaded_size(workspace)
        if size <= loaded:
            return
        first = load_from_level(size, proofs_cache.limit // LOAD_SHARE)
        for level in range(first, size.bit_length(), STRIDE):
            if (size >> level) > (loaded >> level):
                rows = await self.repo.nodes_between(level, loaded >> level,
                                                     (size >> level) - 1)
                proofs_cache.keep(workspace, (((level, i), h) for i, h in rows.items()))
        proofs_cache.mark_loaded(workspace, size)

    async def consistency(self, old_size: int, new_size: int) -> dict[str, Any]:
        """The proof between two signed checkpoints, with both notes."""
        if old_size > new_size:
            raise Unprocessable("The old checkpoint's size must not exceed the new one's.",
                                code="sizes_out_of_order")
        old = await self.ledger.checkpoint(old_size)
        new = await self.ledger.checkpoint(new_size)
        proof = await self.ledger.consistency_proof(old_size, new_size)
        return receipts.consistency_bundle(old.note, new.note, proof)

    async def audit(self) -> AuditReport:
        """Recompute the log from its stored entries (see ``ledger.audit``)."""
        log = await self.ledger.head()
        key = keys.published_key(log.origin, log.public_key)
        # The roots as signed, not as stored beside the note: a rewritten column proves nothing.
        signed = {c.size: _signed_root(c, key) for c in await self._all_checkpoints()}
        auditor = Auditor(log.origin)
        auditor.keep_roots_at(set(signed))
        after, going = -1, True
        while going:
            page = await self.repo.entries_after(after, AUDIT_PAGE)
            if not page:
                break
            nodes = await self._stored_nodes_for(page[0].idx, page[-1].idx)
            for row in page:
                going = auditor.feed(row.idx, row.entry, row.leaf_hash, nodes)
                if not going:
                    break
            going = going and len(page) == AUDIT_PAGE
            after = page[-1].idx
        frontier = Frontier.decode(log.size, log.frontier)
        return auditor.finish(size=log.size, last_leaf=log.last_leaf_hash,
                              frontier_root=frontier.root(), checkpoints=signed)

    async def _stored_nodes_for(self, first: int, last: int) -> dict[Key, bytes]:
        """The stored interior subtrees that leaves ``first..last`` can complete."""
        found: dict[Key, bytes] = {}
        level = STRIDE
        while (last + 1) >> level:
            rows = await self.repo.nodes_between(level, first >> level, last >> level)
            found.update({(level, index): digest for index, digest in rows.items()})
            level += STRIDE
        return found

    async def _all_checkpoints(self) -> list[LedgerCheckpoint]:
        found: list[LedgerCheckpoint] = []
        before: int | None = None
        while page := await self.repo.checkpoints_before(before, 1000):
            found.extend(page)
            before = page[-1].size
        return found


def _signed_root(checkpoint: LedgerCheckpoint, key: VerifierKey) -> bytes:
    try:
        return open_signed(checkpoint.note, key).root
    except CheckpointError:
        return b"unverifiable"  # never a root: the audit reports the checkpoint


def _customer_commitments(data: dict[str, Any]) -> list[str]:
    found: dict[str, None] = {}
    for name in sorted(CUSTOMER_FIELDS & data.keys()):
        value = data[name]
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                found.setdefault(item, None)
    return list(found)
