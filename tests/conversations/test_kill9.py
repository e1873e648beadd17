"""A 200 to a provider means stored: SIGKILL the server while Twilio webhooks arrive.

A real ``cxprism serve`` takes signed inbound SMS from 30 people, is killed at random
moments and restarted; the sender retries what got no 200, as Twilio does. At the end
every message is stored exactly once, each person is one customer with one conversation,
and nothing acknowledged was lost.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select

from cxprism.channels import builtin  # noqa: F401 - registers the connectors
from cxprism.channels.schemas import ChannelCreate
from cxprism.channels.service import ChannelService
from cxprism.channels.twilio.signature import twilio_signature
from cxprism.conversations.models import Conversation, Message
from cxprism.kit.db import Database
from tests.fixtures.builders import Tenant
from tests.fixtures.live import free_port, start_serve, wait_ready

KILLS = 4
MESSAGES = 240
PEOPLE = 30
ACCOUNT = "AC" + "7" * 32
TOKEN = "0123456789abcdef" * 2
NUMBER = "+14155550100"


def _sms(number: int, url: str) -> tuple[bytes, dict[str, str]]:
    params = sorted({"AccountSid": ACCOUNT, "MessageSid": f"SM{number:032d}",
                     "From": f"+1415555{number % PEOPLE + 200:04d}", "To": NUMBER,
                     "Body": f"message {number}", "NumMedia": "0"}.items())
    return urlencode(params).encode(), {
        "X-Twilio-Signature": twilio_signature(TOKEN, url, params),
        "Content-Type": "application/x-www-form-urlencoded"}


async def _send_until_killed(base: str, path: str, pending: set[int], acked: set[int]) -> bool:
    died = False
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        async def one(number: int) -> None:
            nonlocal died
            body, headers = _sms(number, base + path)
            try:
                response = await client.post(path, content=body, headers=headers)
            except httpx.TransportError:
                died = True
                return
            if response.status_code == 200:
                acked.add(number)
                pending.discard(number)

        while pending and not died:
            await asyncio.gather(*(one(n) for n in sorted(pending)[:8]))
    return died


async def _count(db: Database, model: type) -> int:
    async with db.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.slow
async def test_sigkill_loses_no_acknowledged_message_and_stores_none_twice(
        db: Database, tenant: Tenant, database_url: str, tmp_path: Path) -> None:
    seed = int(os.environ.get("CXPRISM_TEST_SEED", random.randrange(2**32)))
    rng = random.Random(seed)
    print(f"CXPRISM_TEST_SEED={seed}")
    async with db.session() as session:
        channel = await ChannelService(session, tenant.workspace_id).create(ChannelCreate(
            kind="twilio_sms", name="SMS", config={
                "account_sid": ACCOUNT, "auth_token": TOKEN, "phone_number": NUMBER}))
        await session.commit()
    path = f"/hooks/twilio_sms/{channel.id}"
    pending, acked = set(range(MESSAGES)), set()
    port, log = free_port(), tmp_path / "server.log"
    base = f"http://127.0.0.1:{port}"
    for _kill in range(KILLS):
        server = start_serve(database_url, port, log, BASE_URL=base,
                             STORAGE_DIR=str(tmp_path / "attachments"))
        try:
            await wait_ready(base)
            sender = asyncio.create_task(_send_until_killed(base, path, pending, acked))
            await asyncio.sleep(rng.uniform(0.1, 0.8))
            server.send_signal(signal.SIGKILL)
            server.wait(timeout=30)
            await sender
        finally:
            if server.poll() is None:
                server.kill()
        assert await _count(db, Message) >= len(acked)  # every 200 survived the kill
    server = start_serve(database_url, port, log, BASE_URL=base,
                             STORAGE_DIR=str(tmp_path / "attachments"))
    try:
        await wait_ready(base)
        while pending:
            await _send_until_killed(base, path, pending, acked)
        replay = set(range(0, MESSAGES, 7))  # Twilio retrying some anyway: no new rows
        await _send_until_killed(base, path, replay, set())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert await _count(db, Message) == MESSAGES
    assert await _count(db, Conversation) == PEOPLE
