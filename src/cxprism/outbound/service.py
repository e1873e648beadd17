"""Sends: the one entry point every sender uses (``submit``/``submit_many``), and what
operators do with a send afterwards (read its history, cancel, resend)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.customers.service import CustomerService
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, NotFound
from cxprism.kit.pagination import decode_cursor, encode_cursor
from cxprism.outbound import schemas, states
from cxprism.outbound.intake import DELIVER_ATTEMPTS, DELIVER_JOB, Intake, Taken, delivery_job
from cxprism.outbound.models import Send
from cxprism.outbound.repository import PolicyRepository, SendRepository
from cxprism.outbound.rules import Rules, rules_from
from cxprism.scheduler.service import enqueue

__all__ = ["DELIVER_JOB", "SendService", "Taken", "enqueue_delivery", "load_rules"]


async def enqueue_delivery(session: AsyncSession, send: Send, run_at: datetime | None) -> None:
    payload, when, key = delivery_job(send, run_at)
    await enqueue(session, DELIVER_JOB, payload, run_at=when, unique_key=key,
                  max_attempts=DELIVER_ATTEMPTS, workspace_id=send.workspace_id)


async def load_rules(session: AsyncSession, workspace_id: uuid.UUID) -> Rules:
    return rules_from(await PolicyRepository(session, workspace_id).policy())


class SendService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor: str | None = None) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.actor = actor
        self.sends = SendRepository(session, workspace_id)
        self.customers = CustomerService(session, workspace_id)

    async def submit(self, data: schemas.SendCreate) -> tuple[Send, bool]:
        """The send for this cause, and whether this call created it."""
        [taken] = await self.submit_many([data])
        if taken.error is not None:
            raise taken.error
        assert taken.send is not None
        return taken.send, taken.created

    async def submit_many(self, requests: list[schemas.SendCreate]) -> list[Taken]:
        """Each request's send (or its error), in order; one query per kind of data."""
        return await Intake(self.session, self.workspace_id, self.actor).take(requests)

    # Operators -------------------------------------------------------------------------

    async def get(self, send_id: uuid.UUID) -> Send:
        send = await self.sends.get(send_id)
        if send is None:
            raise NotFound("Send not found.", details={"send_id": str(send_id)})
        return send

    async def page(self, *, customer_id: uuid.UUID | None, status: str | None,
                   cause: str | None, cursor: str | None, limit: int
                   ) -> tuple[Sequence[Send], str | None]:
        conditions = []
        if customer_id is not None:  # another workspace's customer: 404, like elsewhere
            customer = await self.customers.get(customer_id)
            conditions.append(Send.customer_id == customer.id)
        if status is not None:
            conditions.append(Send.status == status)
        if cause is not None:
            conditions.append(Send.cause == cause)
        items, last = await self.sends.page(*conditions, after=decode_cursor(cursor),
                                            limit=limit)
        return items, encode_cursor(last) if last else None

    async def cancel(self, send_id: uuid.UUID) -> Send:
        send = await self.get(send_id)
        if send.status not in ("queued", "deferred"):
            raise Conflict(f"Only a queued or deferred send can be cancelled; this one is "
                           f"{send.status}.", code="not_cancellable")
        states.move(self.session, send, "cancelled", utcnow(), reason="cancelled",
                    detail=f"cancelled by {self.actor}")
        await self.sends.flush()
        return send

    async def resend(self, send_id: uuid.UUID) -> Send:
        """A person decided: send an ``unknown`` or ``failed`` message again (with the same
        idempotency key, so a provider that honours it still deduplicates)."""
        send = await self.get(send_id)
        if send.status not in ("unknown", "failed"):
            raise Conflict(f"Only an unknown or failed send can be sent again; this one is "
                           f"{send.status}.", code="not_resendable")
        now = utcnow()
        states.move(self.session, send, "queued", now, reason="resend",
                    detail=f"sent again by {self.actor}")
        await self.sends.flush()
        await enqueue_delivery(self.session, send, None)
        return send
