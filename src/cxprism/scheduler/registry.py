"""Job handlers by kind. A handler runs inside the transaction that completes its job."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.scheduler.batches import BatchHandler


@dataclass(frozen=True)
class JobContext:
    """What a handler gets: the job's data and the session its effects are written in.

    The session's transaction also marks the job succeeded, so a handler's database
    effects happen exactly once even when a worker dies and the job runs again.
    """

    session: AsyncSession
    job_id: int
    kind: str
    payload: dict[str, Any]
    attempt: int
    unique_key: str | None
    workspace_id: uuid.UUID | None


JobHandler = Callable[[JobContext], Awaitable[None]]


@dataclass
class JobRegistry:
    handlers: dict[str, JobHandler] = field(default_factory=dict)

    external: set[str] = field(default_factory=set)
    batch_handlers: dict[str, BatchHandler] = field(default_factory=dict)

    def register(self, kind: str, *, external: bool = False) -> Callable[[JobHandler], JobHandler]:
        """``external``: the handler acts outside the database (sends a message, calls an
        API). Such a job is never batched with others, whose failure would roll back and
        re-run it, and its transaction commits as soon as it has run."""

        def decorate(handler: JobHandler) -> JobHandler:
            if kind in self.handlers or kind in self.batch_handlers:
                raise ValueError(f"job kind {kind!r} is registered twice")
            self.handlers[kind] = handler
            if external:
                self.external.add(kind)
            return handler

        return decorate

    def register_batch(self, kind: str) -> Callable[[BatchHandler], BatchHandler]:
        """A handler that takes every claimed job of ``kind`` at once and runs its own
        transactions (see :mod:`cxprism.scheduler.batches`): for concurrent I/O."""

        def decorate(handler: BatchHandler) -> BatchHandler:
            if kind in self.handlers or kind in self.batch_handlers:
                raise ValueError(f"job kind {kind!r} is registered twice")
            self.batch_handlers[kind] = handler
            return handler

        return decorate

    def batch_handler(self, kind: str) -> BatchHandler | None:
        return self.batch_handlers.get(kind)

    def is_external(self, kind: str) -> bool:
        return kind in self.external

    def get(self, kind: str) -> JobHandler | None:
        return self.handlers.get(kind)


registry = JobRegistry()
