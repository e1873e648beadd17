"""The ledger's rules: appending events as leaves, and signing checkpoints.

Appends run in the ledger consumer's transaction, a batch of committed domain events at
a time, never in the transaction that recorded them: ingestion never waits for hashing,
and the log head's row lock serialises only one workspace's ledger writers.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus.events import DomainEvent
from cxprism.conversations.service import ConversationService
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, NotFound
from cxprism.ledger import entries, keys, salt_cache
from cxprism.ledger.checkpoint import Checkpoint, VerifierKey, open_signed, sign
from cxprism.ledger.layout import Frontier, extend, lookup_from, stored_keys
from cxprism.ledger.merkle import (
    EMPTY_ROOT,
    consistency_path_ranges,
    consistency_proof,
    leaf_hash,
    subtrees_needed,
    verify_consistency,
)
from cxprism.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerLog
from cxprism.ledger.repository import LedgerRepository, logs_grown_since_checkpoint

SALT_BYTES = 32
CHECKPOINT_EVERY = timedelta(seconds=60)
"""A log that grew is signed at most about this long after (see ``ledger.tasks.run``)."""


@dataclass(frozen=True)
class Appended:
    first_index: int
    count: int
    size: int


def _content_commitment(payload: dict[str, Any], salts: dict[str, bytes],
                        contents: dict[uuid.UUID, Any]) -> str | None:
    """None when the message is gone already (erased before the ledger heard of it)."""
    message_id = uuid.UUID(payload["message_id"])
    content = contents.get(message_id)
    if content is None:
        return None
    salt = salts[str(payload["customer_id"])]
    return entries.content_commitment(salt, message_id, content)


class LedgerService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.repo = LedgerRepository(session, workspace_id)

    async def head(self, *, lock: bool = False) -> LedgerLog:
        """The workspace's log, created (with its signing key) on first use."""
        found = await self.repo.log(lock=lock)
        if found is None:
            wrapped, public = keys.new_signing_key(self.workspace_id)
            await self.repo.create_log({
                "origin": keys.origin_for(self.workspace_id), "size": 0, "frontier": b"",
                "erasures": 0,
                "signing_key": wrapped, "public_key": public, "created_at": utcnow(),
                "updated_at": utcnow()})
            found = await self.repo.log(lock=lock)
        assert found is not None
        return found

    async def verifier_key(self) -> VerifierKey:
        log = await self.head()
        return keys.published_key(log.origin, log.public_key)

    # Appending --------------------------------------------------------------------------

    async def append(self, events: Sequence[DomainEvent]) -> Appended | None:
        """Append a leaf for each ledgered event, in order; None when none is ledgered."""
        chosen = [e for e in events if e.type in entries.LEDGERED_TYPES]
        if not chosen:
            return None
        log = await self.head(lock=True)
        salted = await self._salts_for(chosen, log.erasures)
        salts = {text: salt for text, (salt, _) in salted.items()}
        commitments = {text: commitment for text, (_, commitment) in salted.items()}
        contents = await self._contents_of(chosen)
        first, previous = log.size, log.last_leaf_hash or EMPTY_ROOT
        rows, hashes, erased = [], [], []
        now = utcnow()
        for offset, event in enumerate(chosen):
            data = entries.committed_payload(event.payload, commitments)
            if event.type in entries.MESSAGE_TYPES:
                data["content"] = _content_commitment(event.payload, salts, contents)
            raw = entries.entry_bytes(
                origin=log.origin, index=first + offset, previous=previous, event_id=event.id,
                event_type=event.type, seq=event.seq, occurred_at=event.occurred_at, data=data)
            previous = leaf_hash(raw)
            hashes.append(previous)
            rows.append((first + offset, event.id, event.type, raw, previous, now))
            if event.type == "customer.erased":
                erased.extend(entries.customer_ids(event.payload))
        growth = extend(Frontier.decode(log.size, log.frontier), hashes)
        await self.repo.add_entries(rows)
        await self.repo.add_nodes(growth.nodes)
        if erased:  # erasure unlinks the person from every commitment: their salts go
            await self.repo.delete_salts(erased)
            log.erasures += 1
            salt_cache.forget(self.workspace_id)
        log.size, log.frontier = growth.frontier.size, growth.frontier.encode()
        log.last_leaf_hash, log.updated_at = previous, utcnow()
        await self.session.flush()
        return Appended(first, len(rows), log.size)

    async def _salts_for(self, chosen: Sequence[DomainEvent],
                         erasures: int) -> dict[str, tuple[bytes, str]]:
        """Each customer id (as the payloads write it) -> its salt and commitment, the salt
        made on first sight."""
        texts: dict[str, None] = {}
        for event in chosen:
            texts.update(dict.fromkeys(entries.customer_texts(event.payload)))
        cache = salt_cache.salts(self.workspace_id, erasures)
        found = {text: salted for text in texts if (salted := cache.get(text)) is not None}
        wanted = {text: uuid.UUID(text) for text in texts if text not in found}
        stored = await self.repo.salts(list(wanted.values()))
        fresh = {customer: os.urandom(SALT_BYTES) for customer in wanted.values()
                 if customer not in stored}
        made = {customer: (salt, entries.commitment(salt, customer))
                for customer, salt in (stored | fresh).items()}
        await self.repo.add_salts({customer: made[customer] for customer in fresh})
        read = {text: made[customer] for text, customer in wanted.items()}
        found.update(read)
        salt_cache.remember(cache, {t: s for t, s in read.items() if wanted[t] in stored})
        salt_cache.remember_after_commit(  # made here: cached only once committed
            self.session.sync_session, self.workspace_id, erasures,
            {t: s for t, s in read.items() if wanted[t] in fresh})
        return found

    async def _contents_of(self, chosen: Sequence[DomainEvent]) -> dict[uuid.UUID, Any]:
        """What the batch's messages said, read once for the batch."""
        ids = [uuid.UUID(e.payload["message_id"]) for e in chosen
               if e.type in entries.MESSAGE_TYPES and e.payload.get("message_id")]
        if not ids:
            return {}
        return await ConversationService(self.session, self.workspace_id).contents_of(ids)

    # Checkpoints ------------------------------------------------------------------------

    async def sign_checkpoint(self) -> LedgerCheckpoint:
        """Sign the current tree head, unless it is inconsistent with the last signed one.

        The new root comes from the head's frontier; the proof that it extends the last
        checkpoint is built from the stored subtrees and checked against that checkpoint's
        signed root. A log rewritten or rolled back underneath is refused, not signed.
        """
        log = await self.head(lock=True)
        frontier = Frontier.decode(log.size, log.frontier)
        latest = await self.repo.latest_checkpoint()
        if latest is not None and latest.size == log.size:
            await self._check_consistent(log, latest, frontier.root())
            return latest
        root = frontier.root()
        if latest is not None:
            await self._check_consistent(log, latest, root)
        key = keys.signing_key(self.workspace_id, log.signing_key)
        note = sign(Checkpoint(log.origin, log.size, root), log.origin, key)
        checkpoint = LedgerCheckpoint(size=log.size, root=root, note=note, created_at=utcnow())
        self.repo.add_checkpoint(checkpoint)
        await self.session.flush()
        return checkpoint

    async def _check_consistent(self, log: LedgerLog, latest: LedgerCheckpoint,
                                new_root: bytes) -> None:
        signed = open_signed(latest.note, keys.published_key(log.origin, log.public_key))
        if log.size < signed.size:
            raise Conflict(f"The log has {log.size} entries but a checkpoint of {signed.size} "
                           "was signed: refusing to sign a log that lost entries.",
                           code="ledger_inconsistent")
        proof = await self.consistency_proof(signed.size, log.size)
        if not verify_consistency(signed.size, log.size, signed.root, new_root, proof):
            raise Conflict(f"The log of {log.size} entries does not extend the checkpoint of "
                           f"{signed.size} signed before: refusing to sign it. Run `cxprism "
                           "ledger audit` to find what changed.", code="ledger_inconsistent")

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        needed = subtrees_needed(consistency_path_ranges(old_size, new_size))
        stored = await self.repo.stored(stored_keys(needed))
        try:
            return consistency_proof(old_size, new_size, lookup_from(stored))
        except KeyError:
            raise Conflict("Stored subtrees of the log are missing: run `cxprism ledger "
                           "audit`.", code="ledger_inconsistent") from None

    async def checkpoint(self, size: int) -> LedgerCheckpoint:
        found = await self.repo.checkpoint(size)
        if found is None:
            raise NotFound(f"No checkpoint of size {size} was signed for this workspace.")
        return found

    async def checkpoints(self, before: int | None, limit: int) -> list[LedgerCheckpoint]:
        """Signed checkpoints newest first, smaller than ``before`` when given."""
        return await self.repo.checkpoints_before(before, limit)

    async def entries(self, after: int, limit: int,
                      event_type: str | None = None) -> list[LedgerEntry]:
        """Entries in log order after index ``after``."""
        return await self.repo.entries_after(after, limit, event_type)

    async def latest_checkpoint(self) -> LedgerCheckpoint:
        """The newest checkpoint; one is signed now if none was yet."""
        return await self.repo.latest_checkpoint() or await self.sign_checkpoint()


async def logs_to_sign(session: AsyncSession) -> list[uuid.UUID]:
    """The workspaces whose log holds entries no checkpoint covers yet."""
    return await logs_grown_since_checkpoint(session)
