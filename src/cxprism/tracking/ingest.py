"""Group commit: concurrent tracking requests share one database transaction.

A request hands its validated rows to the :class:`Ingestor` and waits. A flusher task
takes everything queued so far, writes it in one transaction (one multi-row insert per
workspace), commits, and answers every waiting request. Under load, batches grow by
themselves while the previous commit runs; when idle, a request waits for one commit.
A 200 is only ever sent after the commit that holds the request's events.

On PostgreSQL several flushers run at once, so one batch is parsed and sent while another
waits on the database. Each commit numbers its rows with a run of ``seq`` values that no
other commit shares and that no lock guards (kit.sequences.BlockRuns); the commit's
``tracking.events_appended`` domain event names its range (when it stored any) and
carries its per-source counters, and the outbox delivers those in commit order, so
consumers read every commit's events, in commit order, and the counters are added
exactly once without a row that every commit of a source would have to lock.

Rows are loaded as if their message ids were new (kit.db.copy_new_rows: COPY on
PostgreSQL, which costs the database far less than an insert that skips stored ids). A
replayed or retried id fails that load whole; the commit is then written again skipping
stored ids, and so are the next few, since a replay tends to go on for a while.

Small commits on PostgreSQL skip all that: each workspace's part is one autocommitted
statement (tracking.express), which skips stored ids itself; the session path takes over
where it cannot (a revoked source, a workspace with suppressed people).

If a combined write fails otherwise, each request not yet answered is written again on its
own, so one request's unstorable data cannot fail another's.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.customers.identities import Identity, IdentityKind
from cxprism.customers.privacy import any_suppressed_clause
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database, RowsConflict
from cxprism.kit.errors import Unauthorized
from cxprism.tracking import express
from cxprism.tracking import repository as repo
from cxprism.workspaces.auth import SourceCredential, active_source_count, active_sources

log = logging.getLogger("cxprism.tracking")

MAX_ROWS_PER_COMMIT = 5000
POSTGRES_FLUSHERS = 4  # SQLite has one writer: one flusher
BACKLOG_FOR_ANOTHER_FLUSHER = 500  # rows queued (5 batch requests of 100)
CAREFUL_COMMITS_AFTER_CONFLICT = 20  # skip stored ids from the start for this many commits
APPENDED = "tracking.events_appended"
SESSION_PATH_SECONDS = 30.0  # a workspace the express write could not take goes the session
SESSION_PATH_MEMORY = 10_000  # path for this long (it is asked again then); at most this many
SLOW_COMMIT_SECONDS = 0.1  # a commit that took longer is logged


@dataclass(frozen=True)
class Outcome:
    stored: int
    deduplicated: int
    suppressed: int


@dataclass
class _Submission:
    credential: SourceCredential
    rows: list[dict[str, Any]]
    rejected: int
    future: asyncio.Future[Outcome] | None = field(default=None, repr=False)  # who waits


class Ingestor:
    def __init__(self, db: Database, max_rows: int = MAX_ROWS_PER_COMMIT,
                 flushers: int | None = None, express_rows: int = express.MAX_ROWS) -> None:
        self.max_rows = max_rows
        self.express_rows = express_rows if db.dialect == "postgresql" else 0  # 0: never
        self.flushers = flushers or (POSTGRES_FLUSHERS if db.dialect == "postgresql" else 1)
        self._shared_db = db
        self.db = db.dedicated(self.flushers)  # no ping per commit, and a pool of its own
        self._queue: deque[_Submission] = deque()
        self._running: set[asyncio.Task[None]] = set()
        self._queued_rows = 0
        self._careful_commits = 0
        self._session_path_until: dict[uuid.UUID, float] = {}

    async def submit(self, credential: SourceCredential, rows: list[dict[str, Any]],
                     rejected: int) -> Outcome:
        """Store ``rows`` (and count ``rejected``); returns once they are committed."""
        return await asyncio.shield(self.enqueue(credential, rows, rejected))

    def enqueue(self, credential: SourceCredential, rows: list[dict[str, Any]],
                rejected: int) -> asyncio.Future[Outcome]:
        """Queue ``rows`` for a commit; the future resolves once they are committed. A
        flusher is running whenever anything is queued."""
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._queue.append(_Submission(credential, rows, rejected, future))
        self._queued_rows += len(rows)
        if not self._running or (len(self._running) < self.flushers
                                 and self._queued_rows >= BACKLOG_FOR_ANOTHER_FLUSHER):
            # Another flusher only for a real backlog: small requests batch better in one,
            # big ones keep the loop busy parsing while earlier commits wait on the database.
            task = asyncio.create_task(self._flush_all(), name="tracking-flusher")
            self._running.add(task)
        return future

    async def close(self) -> None:
        """Answer every request queued, then close the pool of its own."""
        while self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self.db is not self._shared_db:
            await self.db.dispose()

    async def _flush_all(self) -> None:
        try:
            while self._queue:
                await self._flush_one(self._take())
        finally:
            # Leave the running set in the same step that found the queue empty. A done
            # callback would run later: a request queued in between would find this
            # flusher still "running", start none, and wait for good if no other came.
            self._running.discard(asyncio.current_task())

    async def _flush_one(self, batch: list[_Submission]) -> None:
        started = time.monotonic()
        try:
            left = await self._write_express(batch)
            if left:
                await self._write_optimistically(left)
            _note_if_slow(started, batch)
        except Exception:
            log.exception("a combined tracking write failed; writing its requests apart")
            repo.forget_reserved_seqs()
            # An optimistic load that failed otherwise would likely fail again: skip it.
            self._careful_commits = CAREFUL_COMMITS_AFTER_CONFLICT
            for submission in batch:
                if submission.future is None or not submission.future.done():
                    await self._write_alone(submission)

    async def _write_express(self, batch: list[_Submission]) -> list[_Submission]:
        """Write what tracking.express can take and answer it; the submissions left."""
        if self.express_rows == 0 or sum(len(s.rows) for s in batch) > self.express_rows:
            return batch
        by_workspace: dict[uuid.UUID, list[_Submission]] = defaultdict(list)
        for submission in batch:
            by_workspace[submission.credential.workspace_id].append(submission)
        now, left = time.monotonic(), []
        express_groups = []
        for workspace_id in sorted(by_workspace):
            group = by_workspace[workspace_id]
            if (any(s.rows for s in group)  # a request of rejections only: nothing to insert
                    and self._session_path_until.get(workspace_id, 0.0) <= now):
                express_groups.append((workspace_id, group))
            else:
                left += group
        if not express_groups:
            return left
        async with self.db.autocommit() as connection:
            for workspace_id, group in express_groups:
                if not await _express_workspace(connection, workspace_id, group):
                    self._remember_session_path(workspace_id, now)
                    left += group
        return left

    def _remember_session_path(self, workspace_id: uuid.UUID, now: float) -> None:
        if len(self._session_path_until) >= SESSION_PATH_MEMORY:
            self._session_path_until = {w: t for w, t in self._session_path_until.items()
                                        if t > now}
        self._session_path_until[workspace_id] = now + SESSION_PATH_SECONDS

    async def _write_optimistically(self, batch: list[_Submission]) -> None:
        if self._careful_commits == 0:
            try:
                await self._write_and_answer(batch, optimistic=True)
                return
            except RowsConflict:
                log.debug("a stored message id came again; skipping stored ids for a while")
                repo.forget_reserved_seqs()
                self._careful_commits = CAREFUL_COMMITS_AFTER_CONFLICT
        else:
            self._careful_commits -= 1
        await self._write_and_answer(batch, optimistic=False)

    def _take(self) -> list[_Submission]:
        batch: list[_Submission] = []
        rows = 0
        while self._queue and (not batch or rows + len(self._queue[0].rows) <= self.max_rows):
            submission = self._queue.popleft()
            batch.append(submission)
            rows += len(submission.rows)
        self._queued_rows -= rows
        return batch

    async def _write_alone(self, submission: _Submission) -> None:
        try:
            await self._write_and_answer([submission])
        except Exception as exc:
            log.exception("a tracking write failed")
            if submission.future is not None and not submission.future.done():
                submission.future.set_exception(exc)

    async def _write_and_answer(self, batch: list[_Submission], *,
                                optimistic: bool = False) -> None:
        async with self.db.session() as session:
            outcomes = await write(session, batch, optimistic=optimistic)
            await session.commit()
        for submission, outcome in zip(batch, outcomes, strict=True):
            future = submission.future
            if future is None or future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)


def _note_if_slow(started: float, batch: list[_Submission]) -> None:
    """A commit that held its requests for long says so: every request of it waited that
    long, and the log tells an operator whether a latency spike was the database's."""
    took = time.monotonic() - started
    if took >= SLOW_COMMIT_SECONDS:
        log.warning("a tracking commit took %.0f ms (%d requests, %d events)", took * 1000,
                    len(batch), sum(len(s.rows) for s in batch))


async def _express_workspace(connection: Any, workspace_id: uuid.UUID,
                             group: list[_Submission]) -> bool:
    """One workspace's requests as one express statement, answered; False if it could not
    take them (nothing was written)."""
    received_at = utcnow()
    kept = [(s.credential.source_id, row) for s in group for row in s.rows]
    _number(kept, workspace_id, await repo.reserve_seqs_on(connection, len(kept)))
    totals: dict[uuid.UUID, list[int]] = defaultdict(lambda: [0, 0, 0])
    for submission in group:
        counts = totals[submission.credential.source_id]
        counts[0] += len(submission.rows) + submission.rejected
        counts[1] += submission.rejected
        counts[2] += len(submission.rows)
    stored_ids = await express.append(
        connection, workspace_id, sorted((row for _, row in kept), key=_message_id),
        sources={source: express.SourceTotals(*counts) for source, counts in totals.items()},
        event_type=APPENDED, received_at=received_at)
    if stored_ids is None:
        return False
    items = list(enumerate(group))
    outcomes = _tally(items, set(), stored_ids)
    for index, submission in items:
        if submission.future is not None and not submission.future.done():
            submission.future.set_result(outcomes[index])
    return True


def _number(kept: list[tuple[uuid.UUID, dict[str, Any]]], workspace_id: uuid.UUID,
            first: int) -> None:
    """Give each row its workspace, source and seq (from ``first`` on), in place: the rows
    are ours, no copies."""
    for seq, (source_id, row) in enumerate(kept, first):
        row["workspace_id"] = workspace_id
        row["seq"] = seq
        row["source_id"] = source_id


_message_id = itemgetter("message_id")


async def write_rows(session: AsyncSession, credential: SourceCredential,
                     rows: list[dict[str, Any]]) -> Outcome:
    """Store validated rows in ``session``'s transaction (imports and the demo)."""
    [outcome] = await write(session, [_Submission(credential, rows, 0)])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


async def write(session: AsyncSession, batch: Sequence[_Submission], *,
                optimistic: bool = False) -> list[Outcome | Exception]:
    """Write a batch in ``session``'s transaction (not committed); one outcome per request.
    ``optimistic``: see repository.insert_events."""
    active, suppressing = await _checks(session, sorted({s.credential.source_id for s in batch}),
                                        sorted({s.credential.workspace_id for s in batch}))
    outcomes: dict[int, Outcome | Exception] = {}
    by_workspace: dict[uuid.UUID, list[tuple[int, _Submission]]] = defaultdict(list)
    for index, submission in enumerate(batch):
        if submission.credential.source_id not in active:
            outcomes[index] = Unauthorized("The write key's source was revoked.")
        else:
            by_workspace[submission.credential.workspace_id].append((index, submission))
    for workspace_id in sorted(by_workspace):  # a fixed lock order across workspaces
        outcomes.update(await _write_workspace(session, workspace_id, by_workspace[workspace_id],
                                               workspace_id in suppressing, optimistic))
    return [outcomes[index] for index in range(len(batch))]


async def _checks(session: AsyncSession, source_ids: list[uuid.UUID],
                  workspace_ids: list[uuid.UUID]) -> tuple[set[uuid.UUID], set[uuid.UUID]]:
    """The sources not revoked, and the workspaces that hold suppressed people: one
    statement (each round trip of a commit also waits its turn on the event loop)."""
    params: dict[str, Any] = {"sources": source_ids}
    params.update({f"workspace_{k}": w for k, w in enumerate(workspace_ids)})
    found = (await session.execute(_checks_statement(len(workspace_ids)), params)).one()
    active = (set(source_ids) if found[0] == len(source_ids)
              else await active_sources(session, source_ids))
    return active, {w for w, any_ in zip(workspace_ids, found[1:], strict=True) if any_}


@functools.cache
def _checks_statement(workspaces: int) -> Select[*tuple[Any, ...]]:
    """Built once per number of workspaces: an expression built per commit left cyclic
    garbage behind, and collecting it stalls every request in flight."""
    return select(active_source_count(bindparam("sources", expanding=True)),
                  *(any_suppressed_clause(bindparam(f"workspace_{k}"))
                    for k in range(workspaces)))


async def _write_workspace(session: AsyncSession, workspace_id: uuid.UUID,
                           items: list[tuple[int, _Submission]],
                           any_suppressed: bool, optimistic: bool) -> dict[int, Outcome]:
    now = utcnow()
    suppressed_ids = (await _suppressed_ids(session, workspace_id,
                                            [row for _, s in items for row in s.rows])
                      if any_suppressed else set())
    kept = [(s.credential.source_id, row) for _, s in items for row in s.rows
            if not _is_suppressed(row, suppressed_ids)]
    stored_ids: set[str] = set()
    if kept:
        first = await repo.reserve_seqs(session, len(kept))
        _number(kept, workspace_id, first)
        # In message-id order: two commits holding the same ids lock them in one order.
        stored_ids = set(await repo.insert_events(
            session, sorted((row for _, row in kept), key=_message_id),
            optimistic=optimistic))
    outcomes = _tally(items, suppressed_ids, stored_ids)
    # The per-source counters ride on the commit's event and are added by a consumer: an
    # upsert here would hold the counter row's lock to the end of the commit and so
    # serialise every concurrent commit of the source (see tracking.tasks).
    events.record(session, workspace_id, APPENDED, {
        "first_seq": first if stored_ids else None,
        "last_seq": first + len(kept) - 1 if stored_ids else None,
        "stored": len(stored_ids), "received_at": now.isoformat(),
        "sources": _source_counts(items, outcomes)})
    return outcomes


def _tally(items: list[tuple[int, _Submission]], suppressed_ids: set[str],
           stored_ids: set[str]) -> dict[int, Outcome]:
    """Per request: what was stored, deduplicated or suppressed."""
    claimed: set[str] = set()  # a message id twice in one commit is stored once
    outcomes: dict[int, Outcome] = {}
    for index, submission in items:
        stored = suppressed = 0
        for row in submission.rows:
            if _is_suppressed(row, suppressed_ids):
                suppressed += 1
            elif row["message_id"] in stored_ids and row["message_id"] not in claimed:
                claimed.add(row["message_id"])
                stored += 1
        duplicates = len(submission.rows) - stored - suppressed
        outcomes[index] = Outcome(stored, duplicates, suppressed)
    return outcomes


def _source_counts(items: list[tuple[int, _Submission]],
                   outcomes: dict[int, Outcome]) -> dict[str, dict[str, int]]:
    """Per source id, what this commit received, rejected, deduplicated and suppressed."""
    per_source: dict[str, repo.StatCounts] = defaultdict(repo.StatCounts)
    for index, submission in items:
        outcome = outcomes[index]
        per_source[str(submission.credential.source_id)].add(repo.StatCounts(
            received=len(submission.rows) + submission.rejected, rejected=submission.rejected,
            deduplicated=outcome.deduplicated, suppressed=outcome.suppressed))
    return {source: asdict(counts) for source, counts in per_source.items()}


async def _suppressed_ids(session: AsyncSession, workspace_id: uuid.UUID,
                          rows: list[dict[str, Any]]) -> set[str]:
    """The user and anonymous ids of people erased at their request, never to be tracked."""
    privacy = CustomerService(session, workspace_id).privacy()
    identities = {Identity(IdentityKind.EXTERNAL_ID, "", row["user_id"])
                  for row in rows if row["user_id"] is not None}
    identities |= {Identity(IdentityKind.ANONYMOUS_ID, "", row["anonymous_id"])
                   for row in rows if row["anonymous_id"] is not None}
    if not identities:
        return set()
    found = await privacy.suppressed_among(sorted(identities), known_any=True)
    return {f"{identity.kind.value}:{identity.value}" for identity in found}


def _is_suppressed(row: dict[str, Any], suppressed_ids: set[str]) -> bool:
    if not suppressed_ids:
        return False
    return (f"external_id:{row['user_id']}" in suppressed_ids
            or f"anonymous_id:{row['anonymous_id']}" in suppressed_ids)
