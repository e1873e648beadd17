"""A batch of inbound items is prepared together: new senders' profiles made at once,
threads locked and looked up at once, with the same outcome as item by item."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select

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
from tests.customers.helpers import events_of
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
    created = len(await events_of(db, ws, "customer.created"))
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


def multi(n: int, thread: str, *senders: str) -> InboundMessage:
    return InboundMessage(external_id=f"m{n}", sender=[Address("email", s) for s in senders],
                          text=f"item {n}", thread_key=thread)


async def outcome(db: Database, workspace_id: uuid.UUID) -> tuple[int, int, int, int]:
    """Customers, merges recorded, conversations, conversations without a message."""
    merged = len(await events_of(db, workspace_id, "customer.merged"))
    async with db.session() as session:
        empty = (await session.execute(select(func.count()).select_from(Conversation).where(
            Conversation.workspace_id == workspace_id, Conversation.message_count == 0))
        ).scalar_one()
    return (await count(db, Customer, workspace_id), merged,
            await count(db, Conversation, workspace_id), int(empty))


async def test_a_new_sender_linked_by_an_earlier_item_of_the_batch_gets_no_profile_of_its_own(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings) -> None:
    opened = await open_channel(client, db, tenant)
    batcher = InboundBatcher(db, LocalStorage(settings.storage_dir))
    await batcher.store([(opened, WebhookResult(messages=[multi(0, "t0", "ann@example.com")]))])
    await batcher.store([(opened, WebhookResult(messages=[
        multi(1, "t1", "new@example.com", "ann@example.com"),  # links new@ to ann
        multi(2, "t2", "new@example.com")]))])
    # As item by item: one person, never merged, one conversation per thread, none empty.
    assert await outcome(db, tenant.workspace_id) == (1, 0, 3, 0)


async def test_a_merge_inside_a_batch_leaves_no_empty_conversation(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings) -> None:
    opened = await open_channel(client, db, tenant)
    for email in ("ann@example.com", "ann.work@example.com"):
        created = await client.post("/api/v1/customers", headers=tenant.headers, json={
            "identities": [{"kind": "email", "value": email}]})
        assert created.status_code == 201, created.text
    await InboundBatcher(db, LocalStorage(settings.storage_dir)).store([(opened, WebhookResult(
        messages=[multi(1, "t2", "ann@example.com", "ann.work@example.com"),
                  multi(2, "t3", "ann.work@example.com")]))])
    # Two profiles (one merged into the other), one merge, a conversation per thread.
    assert await outcome(db, tenant.workspace_id) == (2, 1, 2, 0)


async def test_a_replay_inside_a_batch_prepares_nothing_for_its_second_copy(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, settings: Settings) -> None:
    opened = await open_channel(client, db, tenant)
    first = multi(7, "x", "one@example.com")
    replay = InboundMessage(external_id="m7", sender=[Address("email", "two@example.com")],
                            text="item 7 again", thread_key="y")
    await InboundBatcher(db, LocalStorage(settings.storage_dir)).store(
        [(opened, WebhookResult(messages=[first, replay]))])
    assert await count(db, Message, tenant.workspace_id) == 1
    assert await outcome(db, tenant.workspace_id) == (1, 0, 1, 0)
