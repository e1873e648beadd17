"""``/jobs``: list, inspect, retry and cancel the caller's workspace's jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import Page, clamp_limit
from cxprism.kit.validation import Text
from cxprism.scheduler import service
from cxprism.scheduler.models import MAX_JOB_ID, JobStatus
from cxprism.scheduler.schemas import JobOut
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(route_class=TransactionalRoute, tags=["jobs"])

Session = Depends(db_session)
# Job ids are BIGINT: a larger number can name no job, and would overflow the driver.
JobId = Annotated[int, Path(ge=1, le=MAX_JOB_ID, description="The job's id.")]
Manage = Depends(require(Permission.JOBS_MANAGE))


@router.get("/jobs", response_model=Page[JobOut])
async def list_jobs(*, status: JobStatus | None = None,
                    kind: Text | None = Query(None, min_length=1, max_length=100),
                    cursor: str | None = None, limit: int | None = None,
                    session: AsyncSession = Session, principal: Principal = Manage) -> object:
    jobs, next_cursor = await service.list_jobs(
        session, principal.workspace_id, status=status, kind=kind, cursor=cursor,
        limit=clamp_limit(limit))
    return {"data": jobs, "next_cursor": next_cursor}


@router.get("/jobs/{job_id}", response_model=JobOut)
async def get_job(job_id: JobId, session: AsyncSession = Session,
                  principal: Principal = Manage) -> object:
    return await service.get_job(session, job_id, principal.workspace_id)


@router.post("/jobs/{job_id}/retry", response_model=JobOut)
async def retry_job(job_id: JobId, session: AsyncSession = Session,
                    principal: Principal = Manage) -> object:
    """Run a dead, cancelled or failed job again now, with its attempts reset."""
    return await service.retry_job(session, job_id, principal.workspace_id)


@router.post("/jobs/{job_id}/cancel", response_model=JobOut)
async def cancel_job(job_id: JobId, session: AsyncSession = Session,
                     principal: Principal = Manage) -> object:
    """Cancel a queued job; a running job answers 409."""
    return await service.cancel_job(session, job_id, principal.workspace_id)
