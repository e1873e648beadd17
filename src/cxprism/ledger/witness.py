"""Exporting checkpoints to an external witness: an HTTP endpoint or a file.

A witness keeps copies of the signed checkpoints it was given. Once it holds one, the
workspace cannot later present a different history of the same size (or one that does
not extend it) without the witness's copy exposing it.
"""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Unprocessable
from cxprism.kit.safe_http import check_url, safe_client
from cxprism.ledger.service import LedgerService

EXPORT_JOB = "ledger.export"
NOTE_TYPE = "text/plain; charset=utf-8"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)


class WitnessRefused(RuntimeError):
    """The witness answered something other than 2xx; the job retries with backoff."""


async def set_witness(session: AsyncSession, workspace_id: uuid.UUID, url: str | None) -> None:
    """Every checkpoint from now on is POSTed to ``url`` (None stops exporting)."""
    if url is not None and (problem := check_url(url)) is not None:
        raise Unprocessable(f"The witness URL cannot be used: {problem}.",
                            details=[{"field": "url", "reason": problem}])
    log = await LedgerService(session, workspace_id).head()
    log.witness_url = url
    await session.flush()


async def export_checkpoint(session: AsyncSession, workspace_id: uuid.UUID, size: int) -> None:
    """POST the signed note of checkpoint ``size`` to the workspace's witness."""
    ledger = LedgerService(session, workspace_id)
    url = (await ledger.head()).witness_url
    if url is None:
        return  # exporting was switched off since the job was queued
    checkpoint = await ledger.checkpoint(size)
    async with safe_client(timeout=TIMEOUT) as client:
        answer = await client.post(url, content=checkpoint.note.encode(),
                                   headers={"Content-Type": NOTE_TYPE})
    if not answer.is_success:
        raise WitnessRefused(f"the witness answered {answer.status_code}")
    checkpoint.exported_at = utcnow()
    await session.flush()


async def all_notes(session: AsyncSession, workspace_id: uuid.UUID) -> str:
    """Every signed checkpoint in size order, separated by blank lines (for a file)."""
    ledger = LedgerService(session, workspace_id)
    return "\n".join(c.note for c in reversed(await ledger.checkpoints(None, 100_000)))
