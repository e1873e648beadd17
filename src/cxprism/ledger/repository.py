"""Every query of the ledger, scoped to one workspace (and the one that looks across
workspaces for logs to sign)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import copy_rows, for_update, insert_ignore, one_of
from cxprism.kit.repository import WorkspaceRepository
from cxprism.ledger.layout import Key
from cxprism.ledger.models import LedgerCheckpoint, LedgerEntry, LedgerLog, LedgerNode, LedgerSalt

_ENTRY_COLUMNS = ("workspace_id", "idx", "event_id", "event_type", "entry", "leaf_hash",
                  "created_at")


def _table(model: Any) -> Any:
    return model.__table__


class LedgerRepository(WorkspaceRepository[LedgerEntry]):
    """The ledger's tables have composite keys: queries name them, not ``id``."""

    model = LedgerEntry

    # The log head ---------------------------------------------------------------------

    async def log(self, *, lock: bool = False) -> LedgerLog | None:
        stmt = select(LedgerLog).where(LedgerLog.workspace_id == self.workspace_id)
        if lock:
            stmt = for_update(self.dialect, stmt)
        found: LedgerLog | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def create_log(self, values: Mapping[str, Any]) -> None:
        """Create the head unless a concurrent transaction just did."""
        row = {**values, "workspace_id": self.workspace_id}
        await self.session.execute(insert_ignore(self.dialect, LedgerLog, row, ["workspace_id"]))

    # Entries and stored subtrees ------------------------------------------------------

    async def add_entries(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Rows of (idx, event_id, event_type, entry, leaf_hash, created_at) in one load
        (COPY on PostgreSQL); an index taken already fails the batch."""
        await copy_rows(self.session, _table(LedgerEntry), _ENTRY_COLUMNS,
                        [(self.workspace_id, *row) for row in rows])

    async def add_nodes(self, nodes: Sequence[tuple[int, int, bytes]]) -> None:
        await copy_rows(self.session, _table(LedgerNode), ("workspace_id", "level", "idx", "hash"),
                        [(self.workspace_id, *node) for node in nodes])

    async def stored(self, keys: Iterable[Key]) -> dict[Key, bytes]:
        """The stored subtrees among ``keys``: leaf hashes (level 0) and interior nodes,
        one query per level."""
        by_level: dict[int, set[int]] = {}
        for level, index in keys:
            by_level.setdefault(level, set()).add(index)
        found: dict[Key, bytes] = {}
        for level, indices in sorted(by_level.items()):
            if level == 0:
                stmt = select(LedgerEntry.idx, LedgerEntry.leaf_hash).where(
                    LedgerEntry.workspace_id == self.workspace_id,
                    one_of(self.dialect, LedgerEntry.idx, sorted(indices)))
            else:
                stmt = select(LedgerNode.idx, LedgerNode.hash).where(
                    LedgerNode.workspace_id == self.workspace_id, LedgerNode.level == level,
                    one_of(self.dialect, LedgerNode.idx, sorted(indices)))
            rows = await self.session.execute(stmt)
            found.update({(level, idx): digest for idx, digest in rows})
        return found

    async def nodes_between(self, level: int, first: int, last: int) -> dict[int, bytes]:
        rows = await self.session.execute(
            select(LedgerNode.idx, LedgerNode.hash)
            .where(LedgerNode.workspace_id == self.workspace_id, LedgerNode.level == level,
                   LedgerNode.idx.between(first, last)))
        return dict(rows.all())

    async def entry_at(self, index: int) -> LedgerEntry | None:
        found: LedgerEntry | None = await self.session.get(LedgerEntry, (self.workspace_id, index))
        return found

    async def entries_at(self, indices: Sequence[int]) -> dict[int, LedgerEntry]:
        """The stored entries among ``indices``, by index (one query)."""
        rows = await self.session.execute(select(LedgerEntry).where(
            LedgerEntry.workspace_id == self.workspace_id,
            one_of(self.dialect, LedgerEntry.idx, sorted(set(indices)))))
        return {row.idx: row for row in rows.scalars()}

    async def entry_of_event(self, event_id: uuid.UUID) -> LedgerEntry | None:
        stmt = select(LedgerEntry).where(LedgerEntry.workspace_id == self.workspace_id,
                                         LedgerEntry.event_id == event_id)
        found: LedgerEntry | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def entries_after(self, after: int, limit: int,
                            event_type: str | None = None) -> list[LedgerEntry]:
        """Entries in index order with ``idx > after``."""
        stmt = (select(LedgerEntry)
                .where(LedgerEntry.workspace_id == self.workspace_id, LedgerEntry.idx > after)
                .order_by(LedgerEntry.idx).limit(limit))
        if event_type is not None:
            stmt = stmt.where(LedgerEntry.event_type == event_type)
        return list((await self.session.execute(stmt)).scalars())

    # Checkpoints ----------------------------------------------------------------------

    async def latest_checkpoint(self) -> LedgerCheckpoint | None:
        stmt = (select(LedgerCheckpoint).where(LedgerCheckpoint.workspace_id == self.workspace_id)
                .order_by(LedgerCheckpoint.size.desc()).limit(1))
        found: LedgerCheckpoint | None = (await self.session.execute(stmt)).scalar_one_or_none()
        return found

    async def checkpoint(self, size: int) -> LedgerCheckpoint | None:
        found: LedgerCheckpoint | None = await self.session.get(
            LedgerCheckpoint, (self.workspace_id, size))
        return found

    async def checkpoints_before(self, before: int | None, limit: int) -> list[LedgerCheckpoint]:
        stmt = select(LedgerCheckpoint).where(LedgerCheckpoint.workspace_id == self.workspace_id)
        if before is not None:
            stmt = stmt.where(LedgerCheckpoint.size < before)
        stmt = stmt.order_by(LedgerCheckpoint.size.desc()).limit(limit)
        return list((await self.session.execute(stmt)).scalars())

    def add_checkpoint(self, checkpoint: LedgerCheckpoint) -> None:
        checkpoint.workspace_id = self.workspace_id
        self.session.add(checkpoint)

    # Salts ------------------------------------------------------------------------------

    async def salts(self, customer_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, bytes]:
        if not customer_ids:
            return {}
        rows = await self.session.execute(
            select(LedgerSalt.customer_id, LedgerSalt.salt)
            .where(LedgerSalt.workspace_id == self.workspace_id,
                   one_of(self.dialect, LedgerSalt.customer_id, customer_ids)))
        return dict(rows.all())

    async def add_salts(self, salts: Mapping[uuid.UUID, tuple[bytes, str]]) -> None:
        """New salts: customer id -> (salt, the customer's commitment)."""
        await copy_rows(self.session, _table(LedgerSalt),
                        ("workspace_id", "customer_id", "salt", "commitment"),
                        [(self.workspace_id, customer, salt, commitment)
                         for customer, (salt, commitment) in salts.items()])

    async def openings(self, commitments: Sequence[str]) -> dict[str, tuple[uuid.UUID, bytes]]:
        """Commitment -> (customer id, salt), for the customers not erased."""
        if not commitments:
            return {}
        rows = await self.session.execute(
            select(LedgerSalt.commitment, LedgerSalt.customer_id, LedgerSalt.salt)
            .where(LedgerSalt.workspace_id == self.workspace_id,
                   one_of(self.dialect, LedgerSalt.commitment, commitments)))
        return {commitment: (customer, salt) for commitment, customer, salt in rows}

    async def delete_salts(self, customer_ids: Sequence[uuid.UUID]) -> None:
        if customer_ids:
            await self.session.execute(delete(LedgerSalt).where(
                LedgerSalt.workspace_id == self.workspace_id,
                LedgerSalt.customer_id.in_(customer_ids)))


async def logs_grown_since_checkpoint(session: AsyncSession) -> list[uuid.UUID]:
    """Every workspace whose log holds entries that no checkpoint covers yet."""
    signed = (select(func.max(LedgerCheckpoint.size))
              .where(LedgerCheckpoint.workspace_id == LedgerLog.workspace_id)
              .scalar_subquery())
    rows = await session.execute(select(LedgerLog.workspace_id).where(
        LedgerLog.size > func.coalesce(signed, 0)))
    return list(rows.scalars())
