"""The event store: tracked events, their per-workspace sequence, counters and groups."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.models import Base
from cxprism.kit.types import VerbatimJSON

# Opaque ids compare as bytes on PostgreSQL: a linguistic collation's strcoll was most of
# the cost of the indexes that hold them, and their order means nothing. SQLite compares
# bytes already.
OpaqueId = String(255).with_variant(String(255, collation="C"), "postgresql")


class TrackedEvent(Base):
    """One Segment message, stored once per workspace and ``message_id``.

    ``seq`` numbers events: each commit stores a range of a block reserved for it (see
    kit.sequences), and its ``tracking.events_appended`` domain event names that range, so
    consumers read new events commit by commit, in commit order, without a second write
    per event (see tracking.ingest). The message as sent is ``payload``; the other columns
    are extracted from it for filtering and joining.
    """

    __tablename__ = "tracked_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "message_id"),
        # Partial: a row without the id costs no index entry (server sources send no
        # anonymousId, anonymous browsing no userId), and lookups by id imply NOT NULL.
        Index("ix_tracked_events_user", "workspace_id", "user_id", "timestamp",
              postgresql_where=text("user_id IS NOT NULL"),
              sqlite_where=text("user_id IS NOT NULL")),
        Index("ix_tracked_events_anonymous", "workspace_id", "anonymous_id", "timestamp",
              postgresql_where=text("anonymous_id IS NOT NULL"),
              sqlite_where=text("anonymous_id IS NOT NULL")),
        Index("ix_tracked_events_time", "workspace_id", "timestamp"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    source_id: Mapped[uuid.UUID]
    message_id: Mapped[str] = mapped_column(OpaqueId)
    type: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(255))
    user_id: Mapped[str | None] = mapped_column(OpaqueId)
    anonymous_id: Mapped[str | None] = mapped_column(OpaqueId)
    group_id: Mapped[str | None] = mapped_column(OpaqueId)
    previous_id: Mapped[str | None] = mapped_column(OpaqueId)
    timestamp: Mapped[datetime]
    original_timestamp: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    received_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(VerbatimJSON)  # written once, read whole


class SourceStats(Base):
    """Per-source counters, added to once per ingestion commit."""

    __tablename__ = "tracking_source_stats"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    source_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    received: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    deduplicated: Mapped[int] = mapped_column(BigInteger, default=0)
    suppressed: Mapped[int] = mapped_column(BigInteger, default=0)
    last_received_at: Mapped[datetime | None]


class EventName(Base):
    """The event catalogue: every (type, name) a workspace has sent, with counts."""

    __tablename__ = "tracking_event_names"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(16), primary_key=True)
    # '' for unnamed pages and for identify/group/alias (a primary key cannot be NULL).
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class Group(Base):
    """An account (Segment ``group``): its latest traits."""

    __tablename__ = "tracking_groups"

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    group_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    traits: Mapped[dict[str, Any]]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class GroupMembership(Base):
    """A user or anonymous visitor's membership of a group, by the id the SDK sent.

    Kept by tracking id rather than profile id, so it follows identity resolution for free:
    a profile's groups are the memberships of any of its ids.
    """

    __tablename__ = "tracking_group_members"
    __table_args__ = (Index("ix_tracking_group_members_member", "workspace_id", "id_kind",
                            "member_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    group_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    id_kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # user_id | anonymous_id
    member_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    joined_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
