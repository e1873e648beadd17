"""``cxprism jobs list|retry|cancel``: operator commands; they see every workspace's jobs."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.config import get_settings
from cxprism.kit.db import Database
from cxprism.kit.errors import AppError
from cxprism.scheduler import service
from cxprism.scheduler.models import Job, JobStatus

console = Console()
jobs_app = typer.Typer(help="Inspect, retry and cancel background jobs.", no_args_is_help=True)
T = TypeVar("T")
EVERY_WORKSPACE = None  # the scope operators get in service calls


def _run(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run ``action`` in one committed transaction; the caller's mistakes exit 1."""

    async def main() -> T:
        db = Database(get_settings().database_url)
        try:
            async with db.session() as session:
                result = await action(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except AppError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from exc


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else "-"


@jobs_app.command("list")
def list_jobs(status: JobStatus | None = typer.Option(None, help="Only jobs in this status."),
              kind: str | None = typer.Option(None, help="Only jobs of this kind."),
              limit: int = typer.Option(50, min=1, max=1000, help="How many, newest first.")
              ) -> None:
    """List jobs of every workspace, newest first."""
    jobs, _next = _run(lambda session: service.list_jobs(
        session, EVERY_WORKSPACE, status=status, kind=kind, limit=limit))
    table = Table("id", "kind", "status", "attempts", "run at", "workspace", "last error")
    for job in jobs:
        table.add_row(str(job.id), job.kind, job.status, f"{job.attempts}/{job.max_attempts}",
                      _when(job.run_at), str(job.workspace_id or "-"),
                      (job.last_error or "")[:60])
    console.print(table)
    console.print(f"{len(jobs)} job(s)")


def _report(job: Job, verb: str) -> None:
    console.print(f"job {job.id} ({job.kind}) {verb}; status is now {job.status}")


@jobs_app.command("retry")
def retry_job(job_id: int = typer.Argument(..., help="The job's id.")) -> None:
    """Queue a dead, cancelled or failed job to run now, with its attempts reset."""
    _report(_run(lambda session: service.retry_job(session, job_id, EVERY_WORKSPACE)), "retried")


@jobs_app.command("cancel")
def cancel_job(job_id: int = typer.Argument(..., help="The job's id.")) -> None:
    """Cancel a queued job (a running job cannot be cancelled)."""
    _report(_run(lambda session: service.cancel_job(session, job_id, EVERY_WORKSPACE)),
            "cancelled")
