"""Sending a queued message through its channel's connector (a job, after the commit).

Transient failures (timeouts, 429, 5xx) raise, so the scheduler retries with backoff;
after the last attempt, or on a permanent refusal, the message is marked failed with the
provider's reason. The provider gets the message id as its idempotency key, so a retry
after a lost answer is recognisable where the provider supports it.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.channels.protocol import (
    ANSWER_LOST,
    Address,
    DeliveryStatus,
    OutboundMessage,
    SendError,
    SendResult,
    TemplateRef,
)
from cxprism.channels.service import ChannelService, OpenChannel, open_channel
from cxprism.channels.webchat.connector import VISITOR_OFFLINE, WEBCHAT_EMAIL
from cxprism.conversations.models import Message
from cxprism.conversations.repository import MessageRepository
from cxprism.conversations.status import advance
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import utcnow
from cxprism.outbound.gate import admit_reply

log = logging.getLogger("cxprism.conversations")


class RetryLater(Exception):
    """A transient send failure: the job runs again later."""


async def deliver(session: AsyncSession, workspace_id: uuid.UUID, message_id: uuid.UUID,
                  *, attempt: int, last_attempt: bool, http: httpx.AsyncClient) -> None:
    messages = MessageRepository(session, workspace_id)
    message = await messages.get(message_id)
    if message is None or message.status != DeliveryStatus.QUEUED.value:
        return  # sent (or cancelled) by an earlier run: never twice
    if message.channel_id is None:
        return
    channel = await ChannelService(session, workspace_id).open(message.channel_id)
    if not channel.channel.is_active:
        _failed(session, message, "the channel was disabled before this was sent",
                "channel_disabled")
        return
    refused = await admit_reply(session, workspace_id, message.customer_id, channel,
                                utcnow())
    if refused is not None:  # the outbound pipeline's rules hold for replies too
        _failed(session, message, refused.detail, refused.reason)
        return
    outbound = await _outbound(messages, message, channel)
    try:
        result: SendResult | None = await channel.connector.send(channel.config, outbound, http)
    except SendError as exc:
        result = await _after_failure(session, message, channel, outbound, exc, http=http,
                                      attempt=attempt, last_attempt=last_attempt)
    if result is not None:
        _sent(session, message, result)


async def _after_failure(session: AsyncSession, message: Message, channel: OpenChannel,
                         outbound: OutboundMessage, exc: SendError, *,
                         http: httpx.AsyncClient, attempt: int,
                         last_attempt: bool) -> SendResult | None:
    """A retry (raised), a fallback's result, or None once the message is marked failed
    (or unknown)."""
    if exc.code == ANSWER_LOST:
        _unknown(session, message, str(exc))
        return None
    if exc.code != VISITOR_OFFLINE:
        _give_up_or_retry(session, message, exc, attempt, last_attempt)
        return None
    email = await _email_instead(session, message, channel, outbound)
    if email is None:
        return None
    try:
        return await email.connector.send(email.config, outbound, http)
    except SendError as again:
        _give_up_or_retry(session, message, again, attempt, last_attempt)
        return None


def _give_up_or_retry(session: AsyncSession, message: Message, exc: SendError, attempt: int,
                      last_attempt: bool) -> None:
    if exc.transient and not last_attempt:
        raise RetryLater(f"attempt {attempt}: {exc}") from exc
    _failed(session, message, str(exc), exc.code)


async def _email_instead(session: AsyncSession, message: Message, chat: OpenChannel,
                         outbound: OutboundMessage) -> OpenChannel | None:
    """The visitor left the chat: the reply goes by email, if we know theirs (else the
    message is marked failed, saying why, and None is returned)."""
    channels = ChannelService(session, message.workspace_id)
    wanted = getattr(chat.config, "fallback_email_channel_id", None)
    candidates = [c for c in await channels.list("email") if c.is_active]
    chosen = next((c for c in candidates if c.id == wanted), None) or next(iter(candidates), None)
    if chosen is None:
        _failed(session, message, "the visitor left the chat and no email channel is active",
                VISITOR_OFFLINE)
        return None
    email = open_channel(chosen)
    customers = CustomerService(session, message.workspace_id)
    identities = await customers.identities_of(message.customer_id)
    recipient = email.connector.recipient_of(
        email.config,
        [Address(kind=i.kind, value=i.value, namespace=i.namespace) for i in identities])
    if recipient is None:  # the address the visitor typed into the chat, if any
        recipient = (await customers.get(message.customer_id)).traits.get(WEBCHAT_EMAIL)
    if recipient is None:
        _failed(session, message, "the visitor left the chat and left no email address",
                VISITOR_OFFLINE)
        return None
    message.channel_id, message.recipient = chosen.id, recipient
    message.meta = {**message.meta, "fallback_from": chat.channel.kind}
    outbound.to, outbound.in_reply_to, outbound.references = recipient, None, []
    outbound.subject = message.subject or "Your chat with us"
    return email


async def _outbound(messages: MessageRepository, message: Message,
                    channel: OpenChannel) -> OutboundMessage:
    thread = await messages.thread_ids(message.conversation_id, channel.channel.id)
    template = message.meta.get("template")
    return OutboundMessage(
        to=message.recipient or "", text=message.text, html=message.html,
        subject=message.subject, in_reply_to=thread[-1] if thread else None,
        references=thread, idempotency_key=str(message.id),
        template=TemplateRef(template["name"], template["language"],
                             list(template.get("parameters", []))) if template else None,
        metadata={"reply_token": message.meta.get("reply_token"),
                  "conversation_id": str(message.conversation_id),
                  "channel_id": str(channel.channel.id)})


def _sent(session: AsyncSession, message: Message, result: SendResult) -> None:
    message.external_id = result.external_id[:255]
    message.sent_at = utcnow()
    advance(message, DeliveryStatus(result.status), None, message.sent_at)
    _event(session, "message.sent", message)


def _unknown(session: AsyncSession, message: Message, reason: str) -> None:
    """The provider may have the message: never resent blindly, left for review."""
    log.warning("message %s: outcome unknown: %s", message.id, reason)
    advance(message, DeliveryStatus.UNKNOWN, f"outcome unknown, not resent: {reason}", utcnow())
    _event(session, "message.status_changed", message, previous="queued")


def _failed(session: AsyncSession, message: Message, reason: str, code: str | None) -> None:
    log.warning("message %s failed: %s", message.id, reason)
    detail = f"{code}: {reason}" if code else reason
    advance(message, DeliveryStatus.FAILED, detail, utcnow())
    _event(session, "message.status_changed", message, previous="queued")


def _event(session: AsyncSession, type_: str, message: Message, **extra: Any) -> None:
    events.record(session, message.workspace_id, type_, {
        "message_id": str(message.id), "conversation_id": str(message.conversation_id),
        "customer_id": str(message.customer_id), "channel_id": str(message.channel_id),
        "kind": message.kind, "direction": message.direction, "status": message.status,
        **extra})
