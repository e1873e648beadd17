"""Outgoing webhooks: endpoints (subscriptions), secrets, test events, the delivery log,
redelivery; and the catalogue of event types they can subscribe to."""

from __future__ import annotations

import uuid

import orjson
from fastapi import APIRouter, Depends, Response
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import clamp_limit
from cxprism.webhooks import schemas
from cxprism.webhooks.catalogue import CATALOGUE
from cxprism.webhooks.models import DeliveryStatus, WebhookEndpoint
from cxprism.webhooks.service import WebhookService
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(route_class=TransactionalRoute, tags=["webhooks"])

Session = Depends(db_session)
Manage = Depends(require(Permission.WEBHOOKS_MANAGE))
ReadEvents = Depends(require(Permission.EVENTS_READ))
ENDPOINT = "/webhook-endpoints/{endpoint_id}"


def _service(session: AsyncSession, principal: Principal) -> WebhookService:
    return WebhookService(session, principal.workspace_id)


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> schemas.EndpointWithSecret:
    shown = schemas.EndpointOut.model_validate(endpoint).model_dump()
    return schemas.EndpointWithSecret(**shown, secret=secret)


@router.get("/event-types", response_model=schemas.EventTypeList)
async def list_event_types(_principal: Principal = ReadEvents) -> object:
    """Every domain event type, what it means and the JSON schema of its payload (a
    webhook body's ``data``)."""
    return {"data": [{"type": item.type, "description": item.description,
                      "payload_schema": item.schema} for item in CATALOGUE.values()]}


@router.get("/webhook-endpoints", response_model=schemas.EndpointList)
async def list_endpoints(session: AsyncSession = Session,
                         principal: Principal = Manage) -> object:
    return {"data": await _service(session, principal).list_endpoints()}


@router.post("/webhook-endpoints", response_model=schemas.EndpointWithSecret, status_code=201)
async def create_endpoint(data: schemas.EndpointCreate, session: AsyncSession = Session,
                          principal: Principal = Manage) -> object:
    """Subscribe a URL to event types. The answer holds the signing secret, shown once."""
    return _with_secret(*await _service(session, principal).create_endpoint(data))


@router.get(ENDPOINT, response_model=schemas.EndpointOut)
async def get_endpoint(endpoint_id: uuid.UUID, session: AsyncSession = Session,
                       principal: Principal = Manage) -> object:
    return await _service(session, principal).get_endpoint(endpoint_id)


@router.patch(ENDPOINT, response_model=schemas.EndpointOut)
async def update_endpoint(endpoint_id: uuid.UUID, data: schemas.EndpointUpdate,
                          session: AsyncSession = Session,
                          principal: Principal = Manage) -> object:
    """Change the URL, description or event types; ``is_active`` disables or re-enables."""
    return await _service(session, principal).update_endpoint(endpoint_id, data)


@router.delete(ENDPOINT, status_code=204)
async def delete_endpoint(endpoint_id: uuid.UUID, session: AsyncSession = Session,
                          principal: Principal = Manage) -> Response:
    """Delete the endpoint with its delivery log; nothing more is sent to it."""
    await _service(session, principal).delete_endpoint(endpoint_id)
    return Response(status_code=204)


@router.post(ENDPOINT + "/rotate-secret", response_model=schemas.EndpointWithSecret)
async def rotate_secret(endpoint_id: uuid.UUID, session: AsyncSession = Session,
                        principal: Principal = Manage) -> object:
    """A new signing secret (shown once); the old one stops at once, retries included."""
    return _with_secret(*await _service(session, principal).rotate_secret(endpoint_id))


@router.post(ENDPOINT + "/test", response_model=schemas.DeliveryOut, status_code=202)
async def send_test(endpoint_id: uuid.UUID, session: AsyncSession = Session,
                    principal: Principal = Manage) -> object:
    """Queue a ``webhook.test`` event to this endpoint; follow it in its deliveries."""
    return await _service(session, principal).send_test(endpoint_id)


@router.get(ENDPOINT + "/deliveries", response_model=schemas.DeliveryPage)
async def list_deliveries(  # noqa: PLR0917 - FastAPI parameters
        endpoint_id: uuid.UUID, status: DeliveryStatus | None = None,
        cursor: str | None = None, limit: int | None = None,
        session: AsyncSession = Session, principal: Principal = Manage) -> object:
    """The endpoint's deliveries, newest first."""
    found, next_cursor = await _service(session, principal).list_deliveries(
        endpoint_id, status, cursor, clamp_limit(limit))
    return {"data": found, "next_cursor": next_cursor}


@router.get("/webhook-deliveries/{delivery_id}", response_model=schemas.DeliveryDetail)
async def get_delivery(delivery_id: uuid.UUID, session: AsyncSession = Session,
                       principal: Principal = Manage) -> object:
    """One delivery, the body it sends, and each of its attempts."""
    service = _service(session, principal)
    delivery = await service.get_delivery(delivery_id)
    shown = schemas.DeliveryOut.model_validate(delivery).model_dump()
    return schemas.DeliveryDetail(
        **shown, body=orjson.loads(delivery.body),
        attempt_history=[schemas.AttemptOut.model_validate(a)
                         for a in await service.attempts_of(delivery)])


@router.post("/webhook-deliveries/{delivery_id}/redeliver", response_model=schemas.DeliveryOut,
             status_code=202)
async def redeliver(delivery_id: uuid.UUID, session: AsyncSession = Session,
                    principal: Principal = Manage) -> object:
    """Send it again with the same ``webhook-id`` and a fresh retry schedule."""
    return await _service(session, principal).redeliver(delivery_id)
