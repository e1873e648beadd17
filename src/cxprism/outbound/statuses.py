"""Provider status callbacks for sends, and replies that count as engagement."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.protocol import StatusUpdate
from cxprism.kit.clock import utcnow
from cxprism.outbound import states
from cxprism.outbound.repository import SendRepository, stale_sending

REPLY_WINDOW = timedelta(days=7)  # a reply later than this is not an answer to the send
# Far longer than a send takes (the provider timeout is 30 s): a send still ``sending``
# after this lost its delivery job to repeated crashes.
STALE_SENDING = timedelta(minutes=10)


async def apply_provider_status(session: AsyncSession, workspace_id: uuid.UUID,
                                channel_id: uuid.UUID, update: StatusUpdate) -> bool:
    """A status callback about one of our sends; False when no send has that id."""
    send = await SendRepository(session, workspace_id).by_external_id(
        channel_id, update.external_id[:255])
    if send is None:
        return False
    if states.provider_update(session, send, update.status.value, update.at or utcnow(),
                              update.reason):
        await session.flush()
    return True


async def note_reply(session: AsyncSession, workspace_id: uuid.UUID, customer_id: uuid.UUID,
                     medium: str, at: datetime) -> None:
    """The customer wrote on ``medium``: their latest recent send there was answered."""
    send = await SendRepository(session, workspace_id).latest_sent_to(
        customer_id, medium, at - REPLY_WINDOW)
    if send is not None and send.sent_at is not None and send.sent_at <= at:
        send.replied_at = at
        await session.flush()


async def give_up_stale(session: AsyncSession, now: datetime, limit: int = 500) -> int:
    """Mark sends stuck in ``sending`` as ``unknown``, for review; how many."""
    stuck = await stale_sending(session, now - STALE_SENDING, limit)
    for send in stuck:
        states.move(session, send, "unknown", now, reason="outcome_unknown",
                    detail="its delivery stopped mid-send too many times; not resent: "
                           "check with the provider, then resend or leave it")
    await session.flush()
    return len(stuck)
