"""Email end to end over real SMTP on loopback: in through our server, out through a relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

import aiosmtplib
import httpx
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from cxprism.channels.cache import ChannelCache
from cxprism.config import Settings
from cxprism.conversations.batcher import InboundBatcher
from cxprism.conversations.mail_server import start_mail_server
from cxprism.kit.db import Database
from cxprism.kit.storage import LocalStorage
from tests.conversations.helpers import run_jobs
from tests.fixtures.builders import Tenant

INBOX = "support@acme.test"


class Relay:
    def __init__(self) -> None:
        self.port = 0
        self.received: list[EmailMessage] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        parsed = BytesParser(policy=default).parsebytes(envelope.original_content or b"")
        assert isinstance(parsed, EmailMessage)
        self.received.append(parsed)
        return "250 2.0.0 queued"


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    state = Relay()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(state, hostname="relay.test", loop=loop),
                                      "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    yield state
    server.close()
    await server.wait_closed()


@pytest.fixture
async def mail_port(db: Database, settings: Settings) -> AsyncIterator[int]:
    live = settings.model_copy(update={"smtp_enabled": True, "smtp_port": 0})
    batcher = InboundBatcher(db, LocalStorage(settings.storage_dir))
    server = await start_mail_server(ChannelCache(db), batcher, live)
    assert server is not None
    yield server.port
    await server.stop()


@pytest.fixture
async def email_channel(client: httpx.AsyncClient, tenant: Tenant,
                        relay: Relay) -> dict[str, Any]:
    response = await client.post("/api/v1/channels", headers=tenant.headers, json={
        "kind": "email", "name": "Support", "config": {
            "address": INBOX, "from_name": "Acme Support", "smtp_host": "127.0.0.1",
            "smtp_port": relay.port, "smtp_tls": "none", "smtp_password": "relay-secret"}})
    assert response.status_code == 201, response.text
    return dict(response.json())


def mail(subject: str, body: str, message_id: str, **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "Ann Customer <ann@customer.test>"
    message["To"] = INBOX
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}>"
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return message


async def send(port: int, message: EmailMessage, to: str = INBOX) -> None:
    await aiosmtplib.send(message, hostname="127.0.0.1", port=port, recipients=[to])


async def inbox(client: httpx.AsyncClient, tenant: Tenant) -> list[dict[str, Any]]:
    return list((await client.get("/api/v1/conversations", headers=tenant.headers)).json()["data"])


async def thread(client: httpx.AsyncClient, tenant: Tenant, conversation_id: str) -> list[Any]:
    response = await client.get(f"/api/v1/conversations/{conversation_id}/messages",
                                headers=tenant.headers)
    return list(response.json()["data"])


async def test_mail_in_reply_out_and_the_customers_answer_threads(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, relay: Relay,
        email_channel: dict[str, Any], mail_port: int) -> None:
    first = mail("Broken kettle", "It stopped working.", "first@customer.test")
    for _ in range(5):  # a sender retrying after a lost 250
        await send(mail_port, first)
    [conversation] = await inbox(client, tenant)
    [received] = await thread(client, tenant, conversation["id"])
    assert (conversation["subject"], received["text"].strip()) == ("Broken kettle",
                                                                   "It stopped working.")
    reply = await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                              headers=tenant.headers, json={"text": "Sorry! A new one is sent."})
    assert reply.status_code == 202, reply.text
    await run_jobs(db)
    [out] = relay.received
    assert out["In-Reply-To"] == "<first@customer.test>"
    assert "<first@customer.test>" in out["References"]
    assert out["Subject"] == "Re: Broken kettle" and out["To"] == "ann@customer.test"
    assert "+" in out["Reply-To"]  # the conversation's token rides in the address
    sent = (await thread(client, tenant, conversation["id"]))[-1]
    assert sent["status"] == "sent" and f"<{sent['external_id']}>" == out["Message-ID"]
    # The customer's mail client answers our reply: same conversation.
    answer = mail("Re: Broken kettle", "Thanks!", "answer@customer.test",
                  In_Reply_To=out["Message-ID"], References=out["Message-ID"])
    await send(mail_port, answer)
    # A client that drops every threading header still finds it through the token.
    bare = mail("new subject", "One more thing", "bare@customer.test")
    await send(mail_port, bare, to=out["Reply-To"])
    [same] = await inbox(client, tenant)
    assert same["id"] == conversation["id"] and same["message_count"] == 4


async def test_a_bounce_marks_our_message_bounced(
        client: httpx.AsyncClient, db: Database, tenant: Tenant, relay: Relay,
        email_channel: dict[str, Any], mail_port: int) -> None:
    await send(mail_port, mail("Hi", "hello", "hi@customer.test"))
    [conversation] = await inbox(client, tenant)
    await client.post(f"/api/v1/conversations/{conversation['id']}/replies",
                      headers=tenant.headers, json={"text": "Hello back"})
    await run_jobs(db)
    [out] = relay.received
    await aiosmtplib.send(dsn(out["Message-ID"]), sender="MAILER-DAEMON@relay.test",
                          recipients=[INBOX], hostname="127.0.0.1", port=mail_port)
    last = (await thread(client, tenant, conversation["id"]))[-1]
    assert last["status"] == "bounced" and "5.1.1" in (last["status_reason"] or "")
    # The bounce is a status, not a message from a mailer daemon.
    assert len(await thread(client, tenant, conversation["id"])) == 2


async def test_unknown_mailboxes_are_refused_at_rcpt(
        email_channel: dict[str, Any], mail_port: int) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(mail_port, mail("x", "y", "z@customer.test"), to="nobody@acme.test")
    assert refused.value.recipients[0].code == 550


def dsn(original_id: str) -> bytes:
    return (
        "From: MAILER-DAEMON@relay.test\r\nTo: support@acme.test\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn-1@relay.test>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; relay.test\r\n\r\n"
        "Final-Recipient: rfc822; ann@customer.test\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: {original_id}\r\nSubject: Re: Hi\r\n"
        "--B--\r\n").encode()
