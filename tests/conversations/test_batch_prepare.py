"""A batch of inbound items is prepared together: new senders' profiles made at once,
threads locked and looked up at once, with the same outcome as item by item."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select

from cxprism.bus.models import OutboxEvent
from cxprism.channels.protocol import Address, InboundMessage, WebhookResult
from cxprism.channels.service import ChannelService, OpenChannel
from cxprism.config import Settings
from cxprism.conversations.batcher import InboundBatcher
from cxprism.conversations.models import Conversation, Message
from cxprism.customers.identities import Identity, IdentityKind
from cxprism.customers.models import Customer, CustomerIdentity
from cxprism.customers.service import CustomerService
from cxprism.kit.db import Database
from cxprism.kit.storage import LocalStorage
from tests.conversations.helpers import make_channel
from tests.fixtures.builders import Tenant


async def open_channel(client: httpx.AsyncClient, db: Database, tenant: Tenant) -> OpenChannel:
    channel = await make_channel(client, tenant.headers)
    async with db.session() as session:
        return await ChannelService(session, tenant.workspace_id).open(uuid.UUID(channel["id"]))


def item(n: int, sender: str, thread: str) -> InboundMessage:
    return InboundMessage(external_id=f"p{n}", sender=[Address("email", sender)],
                          text=f"item {n}", thread_key=thread)


async def count(db: Database, model: type, workspace_id: uuid.UUID) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model).where(
            model.workspace_id == workspace_id))).scalar_one())  # type: ignore[attr-defined]


async def test_new_senders_in_one_batch_get_one_profile_each_and_one_conversation_per_thread(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings) -> None:
    opened = await open_channel(client, db, tenant)
    batch = WebhookResult(messages=[
        item(1, "ann@example.com", "a"), item(2, "ann@example.com", "a"),
        item(3, "bob@example.com", "b"), item(4, "ann@example.com", "a"),
        item(5, "cy@example.com", "c1"), item(6, "cy@example.com", "c2")])
    await InboundBatcher(db, LocalStorage(settings.storage_dir)).store([(opened, batch)])
    ws = tenant.workspace_id
    assert await count(db, Message, ws) == 6
    assert await count(db, Customer, ws) == 3
    assert await count(db, CustomerIdentity, ws) == 3
    async with db.session() as session:
        rows = list((await session.execute(select(Message.external_id, Message.customer_id,
                                                  Message.conversation_id))).all())
        created = (await session.execute(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.workspace_id == ws, OutboxEvent.type == "customer.created"))
        ).scalar_one()
    by_id = {external_id: (customer, conversation) for external_id, customer, conversation
             in rows}
    assert by_id["p1"] == by_id["p2"] == by_id["p4"]  # one person, one thread, one conversation
    assert by_id["p5"][0] == by_id["p6"][0] and by_id["p5"][1] != by_id["p6"][1]
    assert len({customer for customer, _ in by_id.values()}) == 3
    assert await count(db, Conversation, ws) == 4
    assert created == 3  # exactly one customer.created per new person


async def test_a_later_batch_joins_the_thread_a_former_batch_opened(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings) -> None:
    opened = await open_channel(client, db, tenant)
    batcher = InboundBatcher(db, LocalStorage(settings.storage_dir))
    await batcher.store([(opened, WebhookResult(messages=[item(1, "dee@example.com", "d")]))])
    await batcher.store([(opened, WebhookResult(messages=[
        item(2, "dee@example.com", "d"), item(3, "dee@example.com", "other")]))])
    async with db.session() as session:
        rows = dict((await session.execute(select(Message.external_id,
                                                  Message.conversation_id))).all())
    assert rows["p1"] == rows["p2"] != rows["p3"]
    assert await count(db, Customer, tenant.workspace_id) == 1


def email_identity(value: str) -> Identity:
    return Identity(IdentityKind.EMAIL, "", value)


async def test_bulk_profiles_create_nothing_when_an_identity_was_claimed_first(
        db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        service = CustomerService(session, tenant.workspace_id)
        await service.identify([email_identity("taken@example.com")])
        before = await count_in(session, tenant.workspace_id)
        made = await service.create_for_new([(email_identity("new@example.com"),),
                                             (email_identity("taken@example.com"),)])
        assert made == {}  # the unique constraint refused the batch: identify() decides
        assert await count_in(session, tenant.workspace_id) == before
        await session.commit()


async def test_bulk_profiles_leave_out_shared_identities_and_suppressed_people(
        db: Database, tenant: Tenant) -> None:
    async with db.session() as session:
        service = CustomerService(session, tenant.workspace_id)
        gone = await service.identify([email_identity("gone@example.com")])
        await service.erase(gone.id, suppress=True)
        shared = email_identity("shared@example.com")
        made = await service.create_for_new([
            (email_identity("gone@example.com"),), (shared, email_identity("one@example.com")),
            (shared, email_identity("two@example.com")), (email_identity("fine@example.com"),),
            (email_identity("fine@example.com"),)])
        await session.commit()
    assert set(made) == {email_identity("fine@example.com")}


async def count_in(session: object, workspace_id: uuid.UUID) -> int:
    stmt = select(func.count()).select_from(Customer).where(Customer.workspace_id == workspace_id)
    return int((await session.execute(stmt)).scalar_one())  # type: ignore[attr-defined]
