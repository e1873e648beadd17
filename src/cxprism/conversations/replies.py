"""Agents' replies: queued in the request's transaction, sent by a job after it commits.

The reply goes out on the conversation's channel, or on another channel the customer
can be reached on; the recipient is the customer's address on that channel. WhatsApp
allows free text only within 24 hours of the customer's last message; after that, only
an approved template, and the API says so before anything is queued.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.protocol import Address
from cxprism.channels.service import ChannelService, OpenChannel
from cxprism.channels.whatsapp.window import WindowClosed, check_whatsapp_send
from cxprism.conversations import schemas
from cxprism.conversations.content import clean_text, safe_html
from cxprism.conversations.models import Conversation, Message
from cxprism.conversations.service import ConversationService
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, Unprocessable
from cxprism.kit.ids import uuid7
from cxprism.scheduler.service import enqueue

SEND_JOB = "conversations.send"
SEND_ATTEMPTS = 8
WINDOWED_KINDS = frozenset({"twilio_whatsapp", "whatsapp_cloud"})


class ReplyService(ConversationService):
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID,
                 actor_id: uuid.UUID | None = None) -> None:
        super().__init__(session, workspace_id, actor_id)

    async def reply(self, conversation_id: uuid.UUID, data: schemas.ReplyCreate) -> Message:
        conversation = await self.live(conversation_id)
        if not data.text.strip() and data.template is None:
            raise Unprocessable("A reply needs text or a template.", details={"field": "text"})
        channel = await ChannelService(self.session, self.workspace_id).open(
            data.channel_id or conversation.channel_id)
        if not channel.channel.is_active:
            raise Conflict("This channel is disabled; enable it or reply on another.",
                           code="channel_disabled")
        recipient = await self._recipient(conversation, channel)
        await self._check_window(conversation, channel, data)
        message = self._queued(conversation, channel, recipient, data)
        self.messages.add(message)
        conversation.message_count += 1
        conversation.last_message_at = message.created_at
        if data.status is not None:
            await self.update(conversation.id, schemas.ConversationUpdate(status=data.status))
        await self.messages.flush()
        await enqueue(self.session, SEND_JOB, {"message_id": str(message.id)},
                      unique_key=f"send:{message.id}", max_attempts=SEND_ATTEMPTS,
                      workspace_id=self.workspace_id)
        self._event("message.queued", conversation, message_id=str(message.id),
                    channel_id=str(channel.channel.id))
        return message

    async def _recipient(self, conversation: Conversation, channel: OpenChannel) -> str:
        """On the conversation's own channel: the address the customer last wrote from
        (they may have several numbers); elsewhere: their address on that channel."""
        last = await self.messages.last_inbound(conversation.id)
        sender = last.meta.get("from") if last is not None else None
        if sender and last is not None and last.channel_id == channel.channel.id:
            found = channel.connector.recipient_of(channel.config, [Address(**sender)])
            if found is not None:
                return found
        customers = CustomerService(self.session, self.workspace_id)
        customer = await customers.get(conversation.customer_id)
        addresses = [Address(kind=i.kind, value=i.value, namespace=i.namespace)
                     for i in await customers.identities_of(customer.id)]
        recipient = channel.connector.recipient_of(channel.config, addresses)
        if recipient is None:
            raise Unprocessable(
                f"The customer has no address a {channel.channel.kind} channel can reach; "
                "reply on another channel or add their address to the profile.",
                code="no_recipient", details={"channel_id": str(channel.channel.id)})
        return recipient

    async def _check_window(self, conversation: Conversation, channel: OpenChannel,
                            data: schemas.ReplyCreate) -> None:
        if channel.channel.kind not in WINDOWED_KINDS:
            return
        last: datetime | None = await self.conversations.last_inbound_at(
            conversation.customer_id, channel.channel.id)
        try:
            check_whatsapp_send(last, utcnow(), data.template is not None)
        except WindowClosed as exc:
            raise Unprocessable(str(exc), code="whatsapp_window_closed",
                                details={"last_inbound_at": last.isoformat() if last else None}
                                ) from None

    def _queued(self, conversation: Conversation, channel: OpenChannel, recipient: str,
                data: schemas.ReplyCreate) -> Message:
        now = utcnow()
        text = clean_text(data.text)
        subject = conversation.subject
        meta: dict[str, object] = {"reply_token": conversation.reply_token}
        if data.template is not None:
            meta["template"] = data.template.model_dump()
        return Message(
            id=uuid7(), conversation_id=conversation.id,
            customer_id=conversation.customer_id, channel_id=channel.channel.id,
            direction="outbound", sender_type="agent", author_id=self.actor_id, kind="message",
            subject=subject, text=text, html=safe_html(text, data.html), attachments=[],
            meta=meta, status="queued", status_history=[{"status": "queued",
                                                         "at": now.isoformat()}],
            recipient=recipient, created_at=now)
