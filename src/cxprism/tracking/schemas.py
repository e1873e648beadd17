"""Response bodies of the tracking read API."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from cxprism.kit.validation import Output
from cxprism.tracking.models import TrackedEvent


class TrackedEventOut(Output):
    message_id: str
    seq: int = Field(description="Position in the workspace's event stream (commit order).")
    source_id: uuid.UUID
    type: str
    name: str | None = Field(description="The track event's name, or the page/screen name.")
    user_id: str | None
    anonymous_id: str | None
    group_id: str | None
    previous_id: str | None
    timestamp: datetime = Field(description="When it happened, corrected for clock skew.")
    original_timestamp: datetime | None
    sent_at: datetime | None
    received_at: datetime
    properties: dict[str, Any]
    traits: dict[str, Any]
    context: dict[str, Any]

    @classmethod
    def of(cls, event: TrackedEvent) -> TrackedEventOut:
        payload = event.payload
        return cls(
            message_id=event.message_id, seq=event.seq, source_id=event.source_id,
            type=event.type, name=event.name, user_id=event.user_id,
            anonymous_id=event.anonymous_id, group_id=event.group_id,
            previous_id=event.previous_id, timestamp=event.timestamp,
            original_timestamp=event.original_timestamp, sent_at=event.sent_at,
            received_at=event.received_at, properties=payload.get("properties") or {},
            traits=payload.get("traits") or {}, context=payload.get("context") or {})


class EventPage(Output):
    data: list[TrackedEventOut]
    next_cursor: str | None = None


class CatalogueEntryOut(Output):
    type: str
    name: str | None
    count: int
    first_seen_at: datetime
    last_seen_at: datetime


class Catalogue(Output):
    data: list[CatalogueEntryOut]


class SourceStatsOut(Output):
    source_id: uuid.UUID
    received: int = Field(description="Messages that arrived with this source's write key.")
    stored: int
    rejected: int
    deduplicated: int
    suppressed: int = Field(description="Dropped: the person asked to be erased and "
                                        "not tracked again.")
    last_received_at: datetime | None


class GroupOut(Output):
    group_id: str
    traits: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime


class GroupMemberOut(Output):
    id_kind: str
    member_id: str
    joined_at: datetime
    last_seen_at: datetime


class GroupDetail(GroupOut):
    members: list[GroupMemberOut]


class CustomerGroups(Output):
    data: list[GroupOut]
