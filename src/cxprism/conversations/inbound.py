"""Storing what channels bring in: each item once, on its customer's conversation.

An inbound item is deduplicated by its provider id within its channel, resolved to a
customer through identity resolution, and threaded: by the reply token in the address
it was sent to, then by the provider ids it answers (email ``In-Reply-To``/``References``,
a comment's post), then by its provider thread (an SMS number pair, a chat session).
Status callbacks move our outbound messages forward (never back: a late "sent" after
"delivered" changes nothing).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.bus import events
from cxprism.channels.protocol import (
    Address,
    DeliveryStatus,
    InboundMessage,
    PayloadInvalid,
    StatusUpdate,
    WebhookResult,
)
from cxprism.channels.service import OpenChannel
from cxprism.conversations.content import clean_text, safe_html
from cxprism.conversations.models import Conversation, Message
from cxprism.conversations.repository import (
    ConversationRepository,
    MessageRepository,
    ThreadKey,
)
from cxprism.conversations.status import advance
from cxprism.customers.identities import (
    Identity,
    InvalidIdentity,
    normalise,
    shared_identities,
)
from cxprism.customers.service import CustomerService
from cxprism.kit.clock import utcnow
from cxprism.kit.db import lock_name, lock_names
from cxprism.kit.errors import Gone
from cxprism.kit.ids import uuid7
from cxprism.kit.storage import Storage
from cxprism.outbound.statuses import apply_provider_status

log = logging.getLogger("cxprism.conversations")
REOPEN_WITHIN = timedelta(days=7)  # a thread resolved longer ago starts a new conversation
MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024


def new_reply_token() -> str:
    return secrets.token_urlsafe(12)


class InboundService:
    def __init__(self, session: AsyncSession, workspace_id: uuid.UUID, storage: Storage) -> None:
        self.session = session
        self.workspace_id = workspace_id
        self.storage = storage
        self.conversations = ConversationRepository(session, workspace_id)
        self.messages = MessageRepository(session, workspace_id)
        # What prepare() looked up (or made) for a batch: provider ids stored already, per
        # channel; the owner of each sender identity; the latest conversation of each
        # thread, its lock taken (None for any of them: ask item by item).
        self._stored_ids: dict[uuid.UUID, set[str]] | None = None
        self._owners: dict[Identity, uuid.UUID] | None = None
        self._threads: dict[ThreadKey, Conversation | None] | None = None

    async def prepare(self, deliveries: list[tuple[OpenChannel, WebhookResult]]) -> None:
        """Look up for a whole batch what :meth:`receive` would ask item by item: a few
        queries for the batch instead of several per item. Senders nobody knows get their
        profiles together, and each thread's lock and latest conversation are taken at
        once, in a fixed order."""
        items = [(channel, item) for channel, result in deliveries for item in result.messages]
        by_channel: dict[uuid.UUID, list[str]] = {}
        for channel, item in items:
            by_channel.setdefault(channel.channel.id, []).append(item.external_id)
        stored = {channel_id: await self.messages.existing_external_ids(channel_id, ids)
                  for channel_id, ids in sorted(by_channel.items())}
        self._stored_ids = stored
        fresh = _first_of_each(items, stored)
        customers = CustomerService(self.session, self.workspace_id)
        senders = [_sender(item) for _, item in fresh]
        identities = sorted({i for sender in senders for i in sender})
        owners = dict(await customers.owners(identities)) if identities else {}
        shared = shared_identities(senders)
        unknown = [sender for sender in senders
                   if sender and not any(i in owners or i in shared for i in sender)]
        if unknown:
            owners.update(await customers.create_for_new(unknown))
        self._owners = owners
        # An item naming two profiles merges them, and later items then belong to the
        # winner: conversations keyed by the owners seen here would start in vain.
        merging = any(len({owners.get(i) for i in sender}) > 1 for sender in senders)
        await self._prepare_threads(fresh, senders, owners, start_new=not merging)

    async def _prepare_threads(self, fresh: list[tuple[OpenChannel, InboundMessage]],
                               senders: list[tuple[Identity, ...]],
                               owners: dict[Identity, uuid.UUID], *, start_new: bool) -> None:
        """Lock every thread the batch's items join (by sender and provider thread), read
        their latest conversations, and (``start_new``) start those that have none still
        open: a few statements for the batch."""
        firsts: dict[ThreadKey, tuple[OpenChannel, InboundMessage]] = {}
        for (channel, item), sender in zip(fresh, senders, strict=True):
            customer = {owners.get(i) for i in sender}
            if (item.thread_key and not item.reply_token and not item.thread_refs
                    and len(customer) == 1):
                owner = customer.pop()
                if owner is not None:
                    firsts.setdefault((channel.channel.id, item.thread_key, owner),
                                      (channel, item))
        await lock_names(self.session, [self._thread_lock(*key) for key in firsts])
        latest = await self.conversations.latest_in_threads(sorted(firsts))
        threads: dict[ThreadKey, Conversation | None] = {key: latest.get(key) for key in firsts}
        if start_new:
            for key, found in threads.items():
                if found is None or not _still_open(found):
                    channel, item = firsts[key]
                    threads[key] = self._new_conversation(channel, item, key[2])
            await self.conversations.flush()
        self._threads = threads

    def _thread_lock(self, channel_id: uuid.UUID, thread_key: str,
                     customer_id: uuid.UUID) -> str:
        return f"thread:{self.workspace_id}:{channel_id}:{thread_key}:{customer_id}"

    async def ingest(self, channel: OpenChannel, result: WebhookResult) -> None:
        """Store every item and status a webhook (or a mail) carried."""
        for item in result.messages:
            await self.receive(channel, item)
        for update in result.statuses:
            await self.apply_status(channel, update)

    async def receive(self, channel: OpenChannel, item: InboundMessage) -> Message | None:
        """Store one inbound item; None when it was stored before (a replay)."""
        channel_id = channel.channel.id
        item.external_id = item.external_id[:255]  # as stored: every lookup agrees
        item.thread_refs = [ref[:255] for ref in item.thread_refs[:50]]
        if await self._stored_before(channel_id, item.external_id):
            return None
        try:
            customer_id = await self._customer_of(item)
        except Gone as exc:
            if exc.code != "suppressed":
                raise
            log.info("dropped an item from a person erased with suppression")
            return None
        conversation = await self._thread_of(channel, item, customer_id)
        now = utcnow()
        message = Message(
            id=uuid7(), conversation_id=conversation.id, customer_id=customer_id,
            channel_id=channel_id, direction="inbound", sender_type="customer",
            kind=item.kind.value, external_id=item.external_id[:255],
            subject=clean_text(item.subject or "")[:998] or None, text=clean_text(item.text),
            html=safe_html(clean_text(item.text), item.html),
            attachments=await self._store_attachments(item),
            meta=_meta(item), status=DeliveryStatus.RECEIVED.value,
            status_history=[{"status": "received", "at": now.isoformat()}],
            sent_at=item.sent_at, created_at=now)
        self.messages.add(message)
        self._touch(conversation, item, now)
        if self._stored_ids is not None:
            self._stored_ids.setdefault(channel_id, set()).add(message.external_id or "")
        else:
            await self.messages.flush()
        self._event("message.received", message, channel_kind=channel.channel.kind)
        return message

    async def _stored_before(self, channel_id: uuid.UUID, external_id: str) -> bool:
        if self._stored_ids is not None and channel_id in self._stored_ids:
            return external_id[:255] in self._stored_ids[channel_id]
        return await self.messages.by_external_id(channel_id, external_id) is not None

    async def apply_status(self, channel: OpenChannel, update: StatusUpdate) -> Message | None:
        message = await self.messages.by_external_id(channel.channel.id,
                                                     update.external_id[:255])
        if message is None:  # perhaps a send of the outbound pipeline (a journey's, say)
            await apply_provider_status(self.session, self.workspace_id, channel.channel.id,
                                        update)
            return None
        if message.direction != "outbound":
            return None
        previous = message.status
        if not advance(message, update.status, update.reason, update.at or utcnow()):
            return message
        await self.messages.flush()
        self._event("message.status_changed", message, previous=previous)
        return message

    async def identify(self, addresses: list[Address],
                       traits: dict[str, Any] | None = None) -> uuid.UUID:
        """The customer these addresses name (created or linked as needed); ``traits`` are
        set on them."""
        identities = [_identity(address) for address in addresses]
        if not identities:
            raise PayloadInvalid("the item names no sender")
        customers = CustomerService(self.session, self.workspace_id)
        owners = await self._owners_of(customers, identities)
        known = set(owners.values())
        if traits is None and len(owners) == len(set(identities)) and len(known) == 1:
            return known.pop()  # most items come from people known by every id they give
        customer_id = (await customers.identify(identities, traits)).id
        if self._owners is not None:
            if len(known) > 1:
                self._owners = None  # profiles were merged: what was looked up is stale
            else:
                self._owners.update(dict.fromkeys(identities, customer_id))
        return customer_id

    async def _owners_of(self, customers: CustomerService,
                         identities: list[Identity]) -> dict[Identity, uuid.UUID]:
        if self._owners is not None:
            return {i: self._owners[i] for i in identities if i in self._owners}
        return dict(await customers.owners(identities))

    async def _customer_of(self, item: InboundMessage) -> uuid.UUID:
        return await self.identify(item.sender)

    async def _thread_of(self, channel: OpenChannel, item: InboundMessage,
                         customer_id: uuid.UUID) -> Conversation:
        found = None
        if item.reply_token:
            found = await self.conversations.by_reply_token(item.reply_token)
        if found is None and item.thread_refs:
            earlier = await self.messages.first_with_external_id(channel.channel.id,
                                                                 item.thread_refs)
            if earlier is not None:
                found = await self.conversations.get(earlier.conversation_id)
        key = (channel.channel.id, item.thread_key or "", customer_id)
        if found is None and item.thread_key:
            latest = await self._latest_in_thread(key)
            if latest is not None and _still_open(latest):
                found = latest
        found = await self.conversations.live_of(found)
        if found is not None:
            return found
        started = await self._start(channel, item, customer_id)
        if item.thread_key and self._threads is not None and key in self._threads:
            self._threads[key] = started  # the batch's next item of this thread joins it
        return started

    async def _latest_in_thread(self, key: ThreadKey) -> Conversation | None:
        if self._threads is not None and key in self._threads:
            return self._threads[key]  # locked and looked up by prepare()
        # Two first messages of one thread in concurrent commits: one conversation.
        await lock_name(self.session, self._thread_lock(*key))
        return await self.conversations.latest_in_thread(*key)

    async def _start(self, channel: OpenChannel, item: InboundMessage,
                     customer_id: uuid.UUID) -> Conversation:
        conversation = self._new_conversation(channel, item, customer_id)
        await self.conversations.flush()
        return conversation

    def _new_conversation(self, channel: OpenChannel, item: InboundMessage,
                          customer_id: uuid.UUID) -> Conversation:
        """A conversation added to the session (inserted at the next flush)."""
        conversation = Conversation(
            id=uuid7(), customer_id=customer_id, channel_id=channel.channel.id,
            channel_kind=channel.channel.kind, subject=clean_text(item.subject or "")[:998] or None,
            status="open", thread_key=(item.thread_key or None), reply_token=new_reply_token(),
            tags=[], message_count=0, last_message_at=utcnow())
        self.conversations.add(conversation)
        events.record(self.session, self.workspace_id, "conversation.created", {
            "conversation_id": str(conversation.id), "customer_id": str(customer_id),
            "channel_id": str(channel.channel.id), "channel_kind": channel.channel.kind})
        return conversation

    def _touch(self, conversation: Conversation, item: InboundMessage, now: Any) -> None:
        conversation.message_count += 1
        conversation.last_message_at = now
        if item.auto_reply:
            return  # an out-of-office answer neither reopens nor opens a service window
        conversation.last_inbound_at = now
        if conversation.status != "open":
            events.record(self.session, self.workspace_id, "conversation.reopened", {
                "conversation_id": str(conversation.id), "previous_status": conversation.status})
            conversation.status = "open"
            conversation.snoozed_until = None
            conversation.resolved_at = None

    async def _store_attachments(self, item: InboundMessage) -> list[dict[str, Any]]:
        stored = []
        for attachment in item.attachments:
            entry: dict[str, Any] = {"id": uuid.uuid4().hex, "filename": attachment.filename[:255],
                                     "content_type": attachment.content_type[:255],
                                     "size": len(attachment.data)}
            if attachment.data:
                if len(attachment.data) > MAX_ATTACHMENT_BYTES:
                    raise PayloadInvalid(f"attachment {attachment.filename!r} is larger than "
                                         f"{MAX_ATTACHMENT_BYTES} bytes")
                entry["key"] = await self.storage.put(self.workspace_id, attachment.data)
            if attachment.url:
                entry["url"] = attachment.url[:2000]
            stored.append(entry)
        return stored

    def _event(self, type_: str, message: Message, **extra: Any) -> None:
        events.record(self.session, self.workspace_id, type_, {
            "message_id": str(message.id), "conversation_id": str(message.conversation_id),
            "customer_id": str(message.customer_id), "channel_id": str(message.channel_id),
            "kind": message.kind, "direction": message.direction, "status": message.status,
            **extra})


def _first_of_each(items: list[tuple[OpenChannel, InboundMessage]],
                   stored: dict[uuid.UUID, set[str]]) -> list[tuple[OpenChannel, InboundMessage]]:
    """The batch's items not stored before, a replay within the batch once (its first)."""
    seen: set[tuple[uuid.UUID, str]] = set()
    fresh = []
    for channel, item in items:
        key = (channel.channel.id, item.external_id[:255])
        if key[1] not in stored[key[0]] and key not in seen:
            seen.add(key)
            fresh.append((channel, item))
    return fresh


def _sender(item: InboundMessage) -> tuple[Identity, ...]:
    """The item's sender identities, sorted; none when one of its addresses is unusable
    (that item fails on its own, item by item)."""
    valid = _valid(item.sender)
    return tuple(sorted(set(valid))) if len(valid) == len(item.sender) else ()


def _valid(addresses: list[Address]) -> list[Identity]:
    """The identities among ``addresses`` that can be one (others fail later, per item)."""
    found = []
    for address in addresses:
        try:
            found.append(normalise(address.kind, address.value, address.namespace))
        except InvalidIdentity:
            continue
    return found


def _identity(address: Address) -> Identity:
    try:
        return normalise(address.kind, address.value, address.namespace)
    except InvalidIdentity as exc:
        raise PayloadInvalid(f"sender {address.kind} is not usable: {exc}") from exc


def _still_open(conversation: Conversation) -> bool:
    if conversation.status != "resolved" or conversation.resolved_at is None:
        return True
    return utcnow() - conversation.resolved_at < REOPEN_WITHIN


def _meta(item: InboundMessage) -> dict[str, Any]:
    meta = dict(item.metadata)
    if item.sender:  # where an answer on this channel goes (the address it came from)
        meta["from"] = {"kind": item.sender[0].kind, "value": item.sender[0].value,
                        "namespace": item.sender[0].namespace}
    if item.sender_name:
        meta["sender_name"] = clean_text(item.sender_name)[:200]
    if item.auto_reply:
        meta["auto_reply"] = True
    if item.thread_refs:
        meta["thread_refs"] = item.thread_refs[:20]
    return meta
