"""The ``jobs`` table: durable timers, retries and sends."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.clock import utcnow
from cxprism.kit.models import Base

MAX_JOB_ID = 2**63 - 1


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    DEAD = "dead"  # exhausted its attempts; kept for inspection and manual retry
    CANCELLED = "cancelled"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim query's index: only queued rows, in the order they are taken.
        Index("ix_jobs_due", "priority", "run_at",
              postgresql_where=text("status = 'queued'"),
              sqlite_where=text("status = 'queued'")),
        Index("ix_jobs_lease", "lease_expires_at",
              postgresql_where=text("status = 'running'"),
              sqlite_where=text("status = 'running'")),
        # The retention sweep's index: succeeded rows by age.
        Index("ix_jobs_finished", "finished_at",
              postgresql_where=text("status = 'succeeded'"),
              sqlite_where=text("status = 'succeeded'")),
    )

    # INTEGER on SQLite, where only that type is the rowid alias that autoincrements.
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"),
                                    primary_key=True, autoincrement=True)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict[str, Any]]
    run_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Lower runs first.
    priority: Mapped[int] = mapped_column(default=100)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=10)
    unique_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.QUEUED.value)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    finished_at: Mapped[datetime | None]
