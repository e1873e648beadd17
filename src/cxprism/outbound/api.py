"""The outbound API: sends and their history, templates and previews, policy, the
marketing kill switch and daily budgets."""

from __future__ import annotations

import uuid
from typing import Literal

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.errors import AppError, error_body
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import clamp_limit
from cxprism.kit.validation import query_text
from cxprism.outbound import schemas
from cxprism.outbound.controls import ControlService
from cxprism.outbound.models import Policy, Template
from cxprism.outbound.rendering import variables_of
from cxprism.outbound.service import SendService
from cxprism.outbound.templates import TemplateService, parts_of
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(prefix="/outbound", route_class=TransactionalRoute, tags=["outbound"])

Session = Depends(db_session)
Read = Depends(require(Permission.OUTBOUND_READ))
SendPermission = Depends(require(Permission.OUTBOUND_SEND))
Manage = Depends(require(Permission.OUTBOUND_MANAGE))
SendStatusFilter = Literal["queued", "deferred", "suppressed", "sending", "sent", "delivered",
                           "read", "failed", "bounced", "unknown", "cancelled"]


def _sends(session: AsyncSession, principal: Principal) -> SendService:
    return SendService(session, principal.workspace_id, principal.caller)


def _controls(session: AsyncSession, principal: Principal) -> ControlService:
    return ControlService(session, principal.workspace_id, principal.caller)


def _template_out(template: Template) -> schemas.TemplateOut:
    out = schemas.TemplateOut.model_validate(template)
    out.variables = variables_of(parts_of(template))
    return out


def _policy_out(policy: Policy) -> schemas.PolicyOut:
    return schemas.PolicyOut(
        timezone=policy.timezone, default_locale=policy.default_locale,
        quiet_hours=policy.quiet_hours, caps=list(policy.caps),
        channel_order=list(policy.channel_order), rate_limits=dict(policy.rate_limits),
        marketing_paused=policy.marketing_paused, paused_reason=policy.paused_reason)


# --- sends -----------------------------------------------------------------------------

@router.post("/sends", response_model=schemas.SendOut, status_code=201)
async def create_send(data: schemas.SendCreate, response: Response,
                      session: AsyncSession = Session,
                      principal: Principal = SendPermission) -> object:
    """Send one message through the pipeline. The same ``cause`` returns the first send
    (200) instead of sending again."""
    send, created = await _sends(session, principal).submit(data)
    if not created:
        response.status_code = 200
    return send


@router.post("/sends/batch", response_model=schemas.BatchResult)
async def create_sends(data: schemas.SendBatch, session: AsyncSession = Session,
                       principal: Principal = SendPermission) -> object:
    """Up to 500 sends at once (a campaign, a journey step). Each item answers with its
    send or its error, by index; a failing item does not stop the others."""
    taken = await _sends(session, principal).submit_many(data.sends)
    return {"data": [
        {"index": i, "created": t.created, "send": t.send,
         "error": _item_error(t.error) if t.error is not None else None}
        for i, t in enumerate(taken)]}


def _item_error(error: AppError) -> dict[str, object]:
    return {"status": error.status_code,
            **error_body(error.code, error.message, error.details)["error"]}


@router.get("/sends", response_model=schemas.SendPage)
async def list_sends(  # noqa: PLR0917 - FastAPI query parameters
        customer_id: uuid.UUID | None = None,
                     status: SendStatusFilter | None = None,
                     cause: str | None = Query(None, max_length=200), cursor: str | None = None,
                     limit: int | None = None, session: AsyncSession = Session,
                     principal: Principal = Read) -> object:
    found, next_cursor = await _sends(session, principal).page(
        customer_id=customer_id, status=status, cause=query_text("cause", cause),
        cursor=cursor, limit=clamp_limit(limit))
    return {"data": found, "next_cursor": next_cursor}


@router.get("/sends/{send_id}", response_model=schemas.SendOut)
async def get_send(send_id: uuid.UUID, session: AsyncSession = Session,
                   principal: Principal = Read) -> object:
    """One send with its full state history."""
    return await _sends(session, principal).get(send_id)


@router.post("/sends/{send_id}/cancel", response_model=schemas.SendOut)
async def cancel_send(send_id: uuid.UUID, session: AsyncSession = Session,
                      principal: Principal = SendPermission) -> object:
    return await _sends(session, principal).cancel(send_id)


@router.post("/sends/{send_id}/resend", response_model=schemas.SendOut)
async def resend(send_id: uuid.UUID, session: AsyncSession = Session,
                 principal: Principal = Manage) -> object:
    """Send an ``unknown`` or ``failed`` message again, after checking with the provider."""
    return await _sends(session, principal).resend(send_id)


# --- templates -------------------------------------------------------------------------

@router.get("/templates", response_model=schemas.TemplateList)
async def list_templates(name: str | None = Query(None, max_length=100),
                         session: AsyncSession = Session, principal: Principal = Read) -> object:
    service = TemplateService(session, principal.workspace_id)
    return {"data": [_template_out(t) for t in
                     await service.listing(query_text("name", name))]}


@router.post("/templates", response_model=schemas.TemplateOut, status_code=201)
async def create_template(data: schemas.TemplateCreate, session: AsyncSession = Session,
                          principal: Principal = Manage) -> object:
    """A new version of the template (versions are never edited in place)."""
    service = TemplateService(session, principal.workspace_id, principal.caller)
    return _template_out(await service.create(data))


@router.get("/templates/{template_id}", response_model=schemas.TemplateOut)
async def get_template(template_id: uuid.UUID, session: AsyncSession = Session,
                       principal: Principal = Read) -> object:
    return _template_out(await TemplateService(session, principal.workspace_id)
                         .get(template_id))


@router.post("/templates/{template_id}/preview", response_model=schemas.PreviewOut)
async def preview_template(template_id: uuid.UUID, data: schemas.PreviewRequest,
                           session: AsyncSession = Session,
                           principal: Principal = Read) -> object:
    """Render with a sample customer; a missing variable is a 422 naming it."""
    rendered = await TemplateService(session, principal.workspace_id).preview(template_id, data)
    return schemas.PreviewOut(subject=rendered.subject, text=rendered.text, html=rendered.html,
                              provider_parameters=rendered.provider_parameters)


# --- policy, kill switch, budgets -------------------------------------------------------

@router.get("/policy", response_model=schemas.PolicyOut)
async def get_policy(session: AsyncSession = Session, principal: Principal = Read) -> object:
    return _policy_out(await _controls(session, principal).policy())


@router.patch("/policy", response_model=schemas.PolicyOut)
async def update_policy(data: schemas.PolicyUpdate, session: AsyncSession = Session,
                        principal: Principal = Manage) -> object:
    return _policy_out(await _controls(session, principal).update(data))


@router.post("/marketing/pause", response_model=schemas.PolicyOut)
async def pause_marketing(data: schemas.PauseRequest, session: AsyncSession = Session,
                          principal: Principal = Manage) -> object:
    """The kill switch: every marketing send waits until marketing is resumed."""
    return _policy_out(await _controls(session, principal).pause_marketing(data.reason))


@router.post("/marketing/resume", response_model=schemas.ResumeOut)
async def resume_marketing(session: AsyncSession = Session,
                           principal: Principal = Manage) -> object:
    policy, released = await _controls(session, principal).resume_marketing()
    return {"policy": _policy_out(policy), "released": released}


async def _budget_list(controls: ControlService) -> dict[str, object]:
    return {"data": [schemas.BudgetOut(medium=budget.medium, daily_limit=budget.daily_limit,
                                       used_today=used, day=day)
                     for budget, day, used in await controls.budgets_used_today()]}


@router.get("/budgets", response_model=schemas.BudgetList)
async def list_budgets(session: AsyncSession = Session, principal: Principal = Read) -> object:
    return await _budget_list(_controls(session, principal))


@router.put("/budgets", response_model=schemas.BudgetList)
async def set_budget(data: schemas.BudgetSet, session: AsyncSession = Session,
                     principal: Principal = Manage) -> object:
    """Set (or, with ``daily_limit`` null, remove) a medium's daily budget; answers with
    every budget and what each has used today."""
    controls = _controls(session, principal)
    if data.daily_limit is None:
        await controls.remove_budget(data.medium.value)
    else:
        await controls.set_budget(data.medium.value, data.daily_limit)
    return await _budget_list(controls)
