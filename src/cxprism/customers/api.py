"""Customers, identities, consent and data-subject requests: a thin HTTP layer."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers import schemas, timeline
from cxprism.customers.consent import Decision
from cxprism.customers.identities import IdentityKind
from cxprism.customers.models import Customer
from cxprism.customers.service import CustomerService, SearchQuery
from cxprism.kit.errors import Unprocessable
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import Page, clamp_limit, decode_cursor, encode_cursor
from cxprism.kit.validation import query_text, query_time
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(route_class=TransactionalRoute, tags=["customers"])

Session = Depends(db_session)
Read = Depends(require(Permission.CUSTOMERS_READ))
Write = Depends(require(Permission.CUSTOMERS_WRITE))
Merge = Depends(require(Permission.CUSTOMERS_MERGE))
Privacy = Depends(require(Permission.PRIVACY_MANAGE))


def _service(session: AsyncSession, principal: Principal) -> CustomerService:
    return CustomerService(session, principal.workspace_id,
                           principal.user_id or principal.api_key_id)


async def _out(service: CustomerService, customer: Customer,
               requested_id: uuid.UUID | None = None) -> schemas.CustomerOut:
    identities = await service.identities_of(customer.id)
    return schemas.CustomerOut(
        id=customer.id, requested_id=requested_id or customer.id,
        merged_from=await service.merged_from(customer.id), traits=customer.traits,
        timezone=customer.timezone, locale=customer.locale,
        identities=[schemas.IdentityOut.model_validate(i) for i in identities],
        created_at=customer.created_at, updated_at=customer.updated_at)


@router.post("/customers", response_model=schemas.CustomerOut, status_code=201,
             responses={200: {"description": "Resolved to an existing customer"}})
async def create_or_identify(data: schemas.CustomerCreate, response: Response,
                             session: AsyncSession = Session,
                             principal: Principal = Write) -> object:
    service = _service(session, principal)
    outcome = await service.identify_outcome(
        [i.normalised() for i in data.identities], data.traits, data.timezone, data.locale)
    response.status_code = 201 if outcome.created else 200
    return await _out(service, outcome.customer)


def _trait_filters(raw: list[str]) -> tuple[tuple[str, str], ...]:
    filters = []
    for item in raw:
        key, sep, value = item.partition(":")
        if not sep or not key:
            raise Unprocessable(f"trait filter {item!r} must look like name:value.",
                                details={"field": "trait"})
        _check_trait_name(key)
        query_text("trait", value)
        filters.append((key, value))
    return tuple(filters)


def _check_trait_name(key: str) -> None:
    try:
        schemas.check_traits({key: None})
    except ValueError as exc:
        raise Unprocessable(str(exc), details={"field": "trait"}) from exc


@router.get("/customers", response_model=Page[schemas.CustomerOut])
async def search_customers(  # noqa: PLR0917 - FastAPI query parameters
        identity_kind: IdentityKind | None = None, identity_value: str | None = None,
        namespace: str | None = None,
        match: str = Query("exact", pattern="^(exact|prefix)$"),
        trait: list[str] = Query(default_factory=list,
                                 description="name:value, string equality; repeatable"),
        created_after: datetime | None = None, created_before: datetime | None = None,
        cursor: str | None = None, limit: int | None = None,
        session: AsyncSession = Session, principal: Principal = Read) -> object:
    service = _service(session, principal)
    query_text("identity_value", identity_value)
    query_text("namespace", namespace)
    query = SearchQuery(identity_kind, identity_value, namespace, match == "prefix",
                        _trait_filters(trait), query_time("created_after", created_after),
                        query_time("created_before", created_before))
    found, last = await service.search(query, decode_cursor(cursor), clamp_limit(limit))
    return {"data": [await _out(service, c) for c in found],
            "next_cursor": encode_cursor(last) if last else None}


@router.get("/customers/lookup", response_model=schemas.CustomerOut)
async def lookup_customer(  # noqa: PLR0917 - FastAPI query parameters
        kind: IdentityKind, value: str, namespace: str = "",
                          region: str | None = None, session: AsyncSession = Session,
                          principal: Principal = Read) -> object:
    service = _service(session, principal)
    return await _out(service, await service.resolve(kind, value, namespace, region))


@router.post("/customers/merge", response_model=schemas.CustomerOut)
async def merge_customers(data: schemas.MergeRequest, session: AsyncSession = Session,
                          principal: Principal = Merge) -> object:
    service = _service(session, principal)
    return await _out(service, await service.merge(data.winner_id, data.loser_id))


@router.get("/customers/{customer_id}", response_model=schemas.CustomerOut)
async def get_customer(customer_id: uuid.UUID, session: AsyncSession = Session,
                       principal: Principal = Read) -> object:
    service = _service(session, principal)
    return await _out(service, await service.get(customer_id), customer_id)


@router.get("/customers/{customer_id}/timeline", response_model=schemas.TimelinePage)
async def customer_timeline(customer_id: uuid.UUID, cursor: str | None = None,
                            limit: int | None = None, session: AsyncSession = Session,
                            principal: Principal = Read) -> object:
    """Everything the customer did and said, newest first: tracked events and
    conversation messages, under every id they ever had."""
    customer = await _service(session, principal).get(customer_id)
    entries, next_cursor = await timeline.timeline(session, principal.workspace_id, customer.id,
                                                   cursor, clamp_limit(limit))
    return {"data": [entry.item for entry in entries], "next_cursor": next_cursor}


@router.patch("/customers/{customer_id}", response_model=schemas.CustomerOut)
async def update_customer(customer_id: uuid.UUID, data: schemas.CustomerUpdate,
                          session: AsyncSession = Session,
                          principal: Principal = Write) -> object:
    service = _service(session, principal)
    return await _out(service, await service.update(customer_id, data), customer_id)


@router.post("/customers/{customer_id}/identities", response_model=schemas.CustomerOut)
async def attach_identities(customer_id: uuid.UUID, data: schemas.IdentitiesAttach,
                            session: AsyncSession = Session,
                            principal: Principal = Write) -> object:
    service = _service(session, principal)
    customer = await service.attach(customer_id, [i.normalised() for i in data.identities])
    return await _out(service, customer, customer_id)


async def _consent_list(service: CustomerService, customer_id: uuid.UUID,
                        history: bool) -> dict[str, Any]:
    current, events = await service.list_consent(customer_id, history)
    return {"data": current, "history": events}


@router.get("/customers/{customer_id}/consent", response_model=schemas.ConsentList)
async def list_consent(customer_id: uuid.UUID, history: bool = False,
                       session: AsyncSession = Session, principal: Principal = Read) -> object:
    return await _consent_list(_service(session, principal), customer_id, history)


@router.post("/customers/{customer_id}/consent", response_model=schemas.ConsentList,
             status_code=201)
async def record_consent(customer_id: uuid.UUID, data: schemas.ConsentIn,
                         session: AsyncSession = Session,
                         principal: Principal = Write) -> object:
    service = _service(session, principal)
    await service.set_consent(customer_id, Decision(
        data.channel, data.purpose, data.status, data.source, data.occurred_at))
    return await _consent_list(service, customer_id, history=False)


@router.get("/customers/{customer_id}/export")
async def export_customer(customer_id: uuid.UUID, session: AsyncSession = Session,
                          principal: Principal = Privacy) -> dict[str, Any]:
    return await _service(session, principal).export(customer_id)


@router.post("/customers/{customer_id}/erase", response_model=schemas.DataSubjectRequestOut)
async def erase_customer(customer_id: uuid.UUID, data: schemas.EraseRequest,
                         session: AsyncSession = Session,
                         principal: Principal = Privacy) -> object:
    return await _service(session, principal).erase(customer_id, data.suppress)
