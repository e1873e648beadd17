"""Erasure: no plaintext of a customer's personal data in the ledger, before or after,
and every receipt issued before the erasure still verifies after it."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import delete, select, text

from cxprism.bus.events import DomainEvent
from cxprism.kit.clock import utcnow
from cxprism.kit.db import Database
from cxprism.kit.ids import uuid7
from cxprism.ledger.checkpoint import parse_verifier_key
from cxprism.ledger.entries import commitment
from cxprism.ledger.models import LedgerLog, LedgerSalt
from cxprism.ledger.receipts import verify_receipt
from cxprism.ledger.service import LedgerService
from tests.conversations.helpers import inbound, make_channel
from tests.fixtures.builders import Tenant
from tests.ledger.helpers import consent_event, get_json, relay_all

EMAIL = "erin.erasable@acme.example"
PHONE = "+14155552671"
NAME = "Erin Erasable"
SAID = "my card number is 4111 and I live at 12 Secret Lane"
LEDGER_TABLES = ["ledger_logs", "ledger_entries", "ledger_nodes", "ledger_checkpoints",
                 "ledger_salts"]


async def _ledger_dump(db: Database, tables: list[str] = LEDGER_TABLES) -> bytes:
    """Every cell of these ledger tables, as bytes (text cells UTF-8 encoded)."""
    cells: list[bytes] = []
    async with db.session() as session:
        for table in tables:
            for row in (await session.execute(text(f"SELECT * FROM {table}"))).all():
                for cell in row:
                    if isinstance(cell, bytes | memoryview):
                        cells.append(bytes(cell))
                    elif cell is not None:
                        cells.append(str(cell).encode())
    return b"\x1e".join(cells)


def _forms(customer_id: str) -> list[bytes]:
    raw = uuid.UUID(customer_id)
    return [EMAIL.encode(), PHONE.encode(), NAME.encode(), b"Secret Lane",
            customer_id.encode(), raw.hex.encode(), raw.bytes]


async def _customer_with_history(client: httpx.AsyncClient, tenant: Tenant) -> str:
    created = await client.post("/api/v1/customers", headers=tenant.headers, json={
        "identities": [{"kind": "email", "value": EMAIL}, {"kind": "phone", "value": PHONE}],
        "traits": {"name": NAME}})
    assert created.status_code == 201, created.text
    customer_id: str = created.json()["id"]
    for status in ("granted", "withdrawn"):
        consent = await client.post(f"/api/v1/customers/{customer_id}/consent",
                                    headers=tenant.headers, json={
                                        "channel": "email", "purpose": "marketing",
                                        "status": status, "source": "preference_centre"})
        assert consent.status_code in (200, 201), consent.text
    channel = await make_channel(client, tenant.headers)
    said = await inbound(client, channel, id="m-1", **{"from": EMAIL}, text=SAID)
    assert said.status_code == 200, said.text
    return customer_id


async def test_erasure_leaves_no_plaintext_and_keeps_every_receipt_valid(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    customer_id = await _customer_with_history(client, tenant)
    await relay_all(db)
    entries = (await get_json(client, tenant, "/entries"))["data"]
    assert {"consent.changed", "message.received"} <= {e["event_type"] for e in entries}
    # Only the salt table names the customer (its key), and only until the erasure.
    dump = await _ledger_dump(db, [t for t in LEDGER_TABLES if t != "ledger_salts"])
    assert not [form for form in _forms(customer_id) if form in dump]
    key = parse_verifier_key((await get_json(client, tenant, "/key"))["verifier_key"])
    before = [await get_json(client, tenant, f"/entries/{e['index']}/receipt") for e in entries]
    said = next(e for e in entries if e["event_type"] == "message.received")
    opening = await get_json(client, tenant, f"/entries/{said['index']}/opening")
    assert [c["customer_id"] for c in opening["customers"]] == [customer_id]
    assert opening["content"]["matches"] is True and opening["content"]["message"]["text"] == SAID

    erased = await client.post(f"/api/v1/customers/{customer_id}/erase",
                               headers=tenant.headers, json={"suppress": False})
    assert erased.status_code == 200, erased.text
    await relay_all(db)

    after = (await get_json(client, tenant, "/entries"))["data"]
    assert after[-1]["event_type"] == "customer.erased"  # the erasure is itself recorded
    assert [a["entry"] for a in after[:len(entries)]] == [e["entry"] for e in entries]
    dump = await _ledger_dump(db)
    assert not [form for form in _forms(customer_id) if form in dump]
    async with db.session() as session:
        salts = (await session.execute(select(LedgerSalt.customer_id).where(
            LedgerSalt.workspace_id == tenant.workspace_id))).scalars().all()
    assert uuid.UUID(customer_id) not in salts  # the commitments are unlinkable now
    for receipt in before:
        verify_receipt(receipt, key)  # raises if any earlier receipt broke
    opening = await get_json(client, tenant, f"/entries/{said['index']}/opening")
    assert opening["customers"] == [] and opening["content"]["message"] is None
    for entry in after:
        verify_receipt(await get_json(client, tenant, f"/entries/{entry['index']}/receipt"), key)
    audit = await client.post("/api/v1/ledger/audit", headers=tenant.headers)
    assert audit.json()["intact"] is True, audit.text


async def test_an_edited_message_no_longer_matches_its_entry(
        db: Database, client: httpx.AsyncClient, tenant: Tenant) -> None:
    await _customer_with_history(client, tenant)
    await relay_all(db)
    said = (await get_json(client, tenant, "/entries?event_type=message.received"))["data"][0]
    async with db.session() as session:  # someone rewrites history in the messages table
        await session.execute(text("UPDATE messages SET text = 'I never said that'"))
        await session.commit()
    opening = await get_json(client, tenant, f"/entries/{said['index']}/opening")
    assert opening["content"]["matches"] is False
    assert opening["content"]["message"]["text"] == "I never said that"


async def test_a_salt_erased_elsewhere_is_never_used_again_from_a_cache(
        db: Database, tenant: Tenant) -> None:
    """Another process erased the customer (salt deleted, erasure count bumped): this
    process's cached salt must not commit new entries to the erased person's old salt."""
    async def append_one(n: int) -> None:
        async with db.session() as session:
            await LedgerService(session, tenant.workspace_id).append(
                [consent_event(tenant.workspace_id, n)])  # n % 7 + 1: the same customer
            await session.commit()

    async def salt_row() -> LedgerSalt | None:
        async with db.session() as session:
            return await session.get(LedgerSalt, (tenant.workspace_id, uuid.UUID(int=1)))

    await append_one(0)
    await append_one(7)  # read from storage now, so cached
    old = await salt_row()
    assert old is not None
    async with db.session() as session:  # what an erasure in another worker leaves behind
        await session.execute(delete(LedgerSalt).where(
            LedgerSalt.workspace_id == tenant.workspace_id,
            LedgerSalt.customer_id == uuid.UUID(int=1)))
        log = await session.get(LedgerLog, tenant.workspace_id)
        assert log is not None
        log.erasures += 1
        await session.commit()
    await append_one(14)
    new = await salt_row()
    assert new is not None and new.salt != old.salt
    async with db.session() as session:
        last = (await session.execute(text(
            "SELECT entry FROM ledger_entries ORDER BY idx DESC LIMIT 1"))).scalar_one()
    assert commitment(new.salt, uuid.UUID(int=1)).encode() in bytes(last)
    assert commitment(old.salt, uuid.UUID(int=1)).encode() not in bytes(last)


async def _append(db: Database, tenant: Tenant, n: int, *, outcome: str = "commit") -> None:
    """Append one consent event about customer ``n % 7 + 1`` and commit, roll back, or roll
    back only a savepoint around the append and then commit."""
    async with db.session() as session:
        service = LedgerService(session, tenant.workspace_id)
        if outcome == "savepoint":
            nested = await session.begin_nested()
            await service.append([consent_event(tenant.workspace_id, n)])
            await nested.rollback()
            await session.commit()
            return
        await service.append([consent_event(tenant.workspace_id, n)])
        await (session.commit() if outcome == "commit" else session.rollback())


async def _salt(db: Database, tenant: Tenant) -> bytes | None:
    """The stored salt of customer 1, the one ``consent_event(.., 0)`` names."""
    async with db.session() as session:
        row = await session.get(LedgerSalt, (tenant.workspace_id, uuid.UUID(int=1)))
    return None if row is None else row.salt


async def _last_entry(db: Database) -> bytes:
    async with db.session() as session:
        return bytes((await session.execute(text(
            "SELECT entry FROM ledger_entries ORDER BY idx DESC LIMIT 1"))).scalar_one())


async def test_a_salt_made_by_a_committed_append_is_cached(db: Database,
                                                           tenant: Tenant) -> None:
    await _append(db, tenant, 0)
    made = await _salt(db, tenant)
    assert made is not None
    async with db.session() as session:  # gone from storage, but no erasure was counted
        await session.execute(delete(LedgerSalt).where(
            LedgerSalt.workspace_id == tenant.workspace_id))
        await session.commit()
    await _append(db, tenant, 7)
    assert await _salt(db, tenant) is None  # the cached salt was used: nothing was made
    assert commitment(made, uuid.UUID(int=1)).encode() in await _last_entry(db)


async def test_a_salt_made_by_a_rolled_back_append_is_never_used(db: Database,
                                                                 tenant: Tenant) -> None:
    for outcome in ("rollback", "savepoint"):
        async with db.session() as session:
            await session.execute(delete(LedgerSalt))
            await session.commit()
        await _append(db, tenant, 0, outcome=outcome)
        assert await _salt(db, tenant) is None, outcome
        await _append(db, tenant, 7)
        stored = await _salt(db, tenant)
        assert stored is not None, outcome  # made again and stored, not taken from a cache
        assert commitment(stored, uuid.UUID(int=1)).encode() in await _last_entry(db), outcome
        async with db.session() as session:  # next round: the customer is erased again
            log = await session.get(LedgerLog, tenant.workspace_id)
            assert log is not None
            log.erasures += 1
            await session.commit()



async def test_a_salt_made_in_the_batch_that_erases_its_customer_is_never_cached(
        db: Database, tenant: Tenant) -> None:
    first = consent_event(tenant.workspace_id, 0)
    erased = DomainEvent(uuid7(), tenant.workspace_id, "customer.erased",
                         {"customer_id": first.payload["customer_id"]}, utcnow(), seq=2)
    async with db.session() as session:
        await LedgerService(session, tenant.workspace_id).append([first, erased])
        await session.commit()
    assert await _salt(db, tenant) is None  # erased in the same batch
    await _append(db, tenant, 7)
    stored = await _salt(db, tenant)
    assert stored is not None  # made anew, not the erased one from a cache
    assert commitment(stored, uuid.UUID(int=1)).encode() in await _last_entry(db)
