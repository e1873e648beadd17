"""Ledger tables: one log head per workspace, entries (leaves), stored subtrees, signed
checkpoints and the per-customer salts that personal-data commitments use."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.clock import utcnow
from cxprism.kit.models import Base


class LedgerLog(Base):
    """A workspace's log: its size, right edge (frontier) and signing key.

    The row is locked while a batch is appended, so one workspace's appends are
    serialised (the relay hands a workspace's events to one consumer at a time anyway);
    ingestion never waits for it — the ledger is a consumer of committed events.
    """

    __tablename__ = "ledger_logs"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    origin: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    frontier: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    last_leaf_hash: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Counts erasures: a process's cache of salts is good only for the count it saw.
    erasures: Mapped[int] = mapped_column(BigInteger, default=0)
    # Ed25519 private key, AES-GCM wrapped by a key derived from the server's secret.
    signing_key: Mapped[bytes] = mapped_column(LargeBinary)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    witness_url: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LedgerEntry(Base):
    """One leaf: ``entry`` is the canonical bytes that are hashed (never re-serialised)."""

    __tablename__ = "ledger_entries"
    __table_args__ = (UniqueConstraint("workspace_id", "event_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(100))
    entry: Mapped[bytes] = mapped_column(LargeBinary)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerNode(Base):
    """A complete subtree on a stored level (see ``ledger.layout``); never changes."""

    __tablename__ = "ledger_nodes"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    level: Mapped[int] = mapped_column(Integer, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerCheckpoint(Base):
    """A signed tree head, as the C2SP signed note that was issued."""

    __tablename__ = "ledger_checkpoints"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    root: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    exported_at: Mapped[datetime | None]


class LedgerSalt(Base):
    """A customer's commitment salt. Deleting it (erasure) unlinks every commitment.

    ``commitment`` is the customer's commitment, so an entry can be opened (who is this?)
    while the person exists, and by nobody once the row is gone.
    """

    __tablename__ = "ledger_salts"
    __table_args__ = (UniqueConstraint("workspace_id", "commitment"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    customer_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    salt: Mapped[bytes] = mapped_column(LargeBinary)
    commitment: Mapped[str] = mapped_column(String(80))
