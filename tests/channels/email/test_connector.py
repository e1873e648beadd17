"""EmailConnector against a real SMTP relay on loopback (aiosmtpd), answers and all."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import default
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from cxprism.channels.email import AttachmentTooLarge, EmailConfig, EmailConnector
from cxprism.channels.protocol import (
    Address,
    Connector,
    DeliveryStatus,
    OutboundMessage,
    SendError,
)

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Relay:
    """A relay whose answers the test chooses; it keeps what it accepted."""

    port: int = 0
    received: list[Envelope] = field(default_factory=list)
    rcpt_reply: str | None = None
    data_reply: str | None = None
    stall: bool = False

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, options: list[str]) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.stall:
            await asyncio.sleep(30)  # the answer that never comes
        if self.data_reply:
            return self.data_reply
        self.received.append(envelope)
        return "250 2.0.0 queued as 4F2A81C0042"


def _authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                  data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (b"relay", b"s3cret")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
async def relay() -> AsyncIterator[Relay]:
    state = Relay()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(state, hostname="relay.test", loop=loop, authenticator=_authenticate,
                     auth_require_tls=False, auth_exclude_mechanism=["LOGIN"]),
        "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:
        server.close()
        await server.wait_closed()


def config(relay: Relay, **overrides: Any) -> EmailConfig:
    values: dict[str, Any] = {"address": "support@acme.test", "from_name": "Acme Support",
                              "smtp_host": "127.0.0.1", "smtp_port": relay.port,
                              "smtp_tls": "none", "timeout_seconds": 5}
    return EmailConfig.model_validate(values | overrides)


REPLY = OutboundMessage(
    to="renee.dupre@gmail.com", text="Votre colis arrive demain.", subject="Commande n° 4821",
    in_reply_to="CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com",
    references=["b41c0f7e@acme.test", "CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com"],
    idempotency_key="message:7f0c", metadata={"reply_token": "Tk3x9QaZ_2mB"})


async def send(cfg: EmailConfig, message: OutboundMessage = REPLY) -> Any:
    async with httpx.AsyncClient() as http:
        return await EmailConnector().send(cfg, message, http)


def test_speaks_the_connector_protocol() -> None:
    connector = EmailConnector()
    assert isinstance(connector, Connector)
    assert connector.kind == "email"
    assert connector.secret_fields == frozenset({"smtp_password"})
    cfg = EmailConfig(address="Help@Acme.test", smtp_host="smtp.acme.test")
    assert connector.address_of(cfg) == "help@acme.test"
    assert connector.recipient_of(cfg, [Address("phone", "+441234"), Address("email", "a@x.test"),
                                   Address("email", "b@x.test")]) == "a@x.test"
    assert connector.recipient_of(cfg, [Address("phone", "+441234")]) is None


async def test_send_through_the_relay_keeps_threading_headers(relay: Relay) -> None:
    result = await send(config(relay))
    assert result.status is DeliveryStatus.SENT
    [envelope] = relay.received
    assert envelope.mail_from == "support@acme.test"
    assert envelope.rcpt_tos == ["renee.dupre@gmail.com"]
    received = BytesParser(policy=default).parsebytes(envelope.original_content or b"")
    assert received["Message-ID"] == f"<{result.external_id}>"
    assert result.external_id.endswith("@acme.test")
    assert received["In-Reply-To"] == "<CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com>"
    assert received["References"] == "<b41c0f7e@acme.test> <CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com>"
    assert str(received["Reply-To"]) == "Acme Support <support+Tk3x9QaZ_2mB@acme.test>"
    assert str(received["Subject"]) == "Re: Commande n° 4821"
    plain = received.get_body(("plain",))
    assert plain is not None and plain.get_content().strip() == "Votre colis arrive demain."
    # A retry of the same send carries the same Message-ID: the customer sees one email.
    assert (await send(config(relay))).external_id == result.external_id


async def test_relay_login(relay: Relay) -> None:
    result = await send(config(relay, smtp_username="relay", smtp_password="s3cret"))
    assert result.status is DeliveryStatus.SENT
    with pytest.raises(SendError) as refused:
        await send(config(relay, smtp_username="relay", smtp_password="wrong"))
    assert refused.value.transient is False and refused.value.code == "smtp_535"


@pytest.mark.parametrize(("where", "reply", "transient"), [
    ("rcpt", "550 5.1.1 no such user", False),
    ("rcpt", "450 4.2.1 mailbox busy, try later", True),
    ("data", "554 5.7.1 message rejected as spam", False),
    ("data", "451 4.3.0 local error, try later", True),
])
async def test_relay_answers_decide_whether_to_retry(relay: Relay, where: str, reply: str,
                                                     transient: bool) -> None:
    setattr(relay, f"{where}_reply", reply)
    with pytest.raises(SendError) as failed:
        await send(config(relay))
    assert failed.value.transient is transient
    assert failed.value.code == f"smtp_{reply[:3]}"
    assert reply[4:] in str(failed.value)


async def test_nothing_listening_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = EmailConfig(address="support@acme.test", smtp_host="127.0.0.1", smtp_port=port,
                      smtp_tls="none", timeout_seconds=2)
    with pytest.raises(SendError) as failed:
        await send(cfg)
    assert failed.value.transient is True and failed.value.code == "smtp_unavailable"


async def test_starttls_demanded_but_not_offered_is_a_configuration_error(relay: Relay) -> None:
    with pytest.raises(SendError) as failed:
        await send(config(relay, smtp_tls="starttls"))
    assert failed.value.transient is False and failed.value.code == "smtp_configuration"
    assert relay.received == []


async def test_a_lost_answer_to_data_is_unknown_not_retried(relay: Relay) -> None:
    relay.stall = True
    result = await send(config(relay, timeout_seconds=0.5))
    assert result.status is DeliveryStatus.UNKNOWN
    assert result.external_id.endswith("@acme.test")


async def test_invalid_messages_fail_for_good_before_connecting(relay: Relay) -> None:
    with pytest.raises(SendError) as failed:
        await send(config(relay), OutboundMessage(to="a@example.com\r\nBcc: e@evil.test",
                                                  text="x"))
    assert failed.value.transient is False and failed.value.code == "invalid_message"
    assert relay.received == []


def test_parse_uses_the_channel_limit_and_inbox() -> None:
    raw = (FIXTURES / "outlook_reply.eml").read_bytes()
    cfg = EmailConfig(address="support@acme.test", smtp_host="smtp.acme.test")
    [message] = EmailConnector().parse(raw, cfg).messages
    assert message.attachments[0].filename.endswith(".pdf")
    with pytest.raises(AttachmentTooLarge):
        EmailConnector().parse(raw, cfg.model_copy(update={"max_attachment_bytes": 100}))
    gmail = (FIXTURES / "gmail_reply.eml").read_bytes()
    other = EmailConfig(address="help@acme.test", smtp_host="smtp.acme.test")
    assert EmailConnector().parse(gmail, cfg).messages[0].reply_token == "Tk3x9QaZ_2mB"
    assert EmailConnector().parse(gmail, other).messages[0].reply_token is None
