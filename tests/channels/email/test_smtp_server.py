"""The inbound SMTP server over real loopback, driven by a real SMTP client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import aiosmtplib
import pytest

from cxprism.channels.email import InboundSmtp, parse_email

INBOX = "support@acme.test"


@dataclass
class Inbox:
    server: InboundSmtp
    delivered: list[tuple[list[str], bytes]] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)
    failure: BaseException | None = None
    accepts_fails: bool = False
    gate: asyncio.Event | None = None
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    loops: list[asyncio.AbstractEventLoop] = field(default_factory=list)


@pytest.fixture
async def inbox() -> AsyncIterator[Inbox]:
    holder: list[Inbox] = []

    async def accepts(address: str) -> bool:
        state = holder[0]
        state.asked.append(address)
        if state.accepts_fails:
            raise RuntimeError("database unavailable")
        return address == INBOX

    async def deliver(recipients: list[str], raw: bytes) -> None:
        state = holder[0]
        state.loops.append(asyncio.get_running_loop())
        state.entered.set()
        if state.gate is not None:
            await state.gate.wait()
        if state.failure is not None:
            raise state.failure
        # What the application does: parse (which may refuse), then store and commit.
        parse_email(raw, max_attachment_bytes=1000, max_total_bytes=5000, inbox=INBOX)
        state.delivered.append((recipients, raw))

    server = InboundSmtp("127.0.0.1", 0, accepts=accepts, deliver=deliver,
                         max_message_bytes=64 * 1024, hostname="mx.acme.test")
    holder.append(Inbox(server))
    await server.start()
    assert server.port != 0
    try:
        yield holder[0]
    finally:
        await server.stop()


def mail(to: str = INBOX, body: str = "Where is my parcel?",
         attachment: bytes | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Ann Customer <ann@example.com>"
    msg["To"] = to
    msg["Subject"] = "Parcel"
    msg["Message-ID"] = "<parcel-1@example.com>"
    msg.set_content(body)
    if attachment is not None:
        msg.add_attachment(attachment, maintype="application", subtype="octet-stream",
                           filename="scan.bin")
    return msg


async def send(inbox: Inbox, msg: EmailMessage | bytes, recipients: list[str] | None = None,
               ) -> tuple[dict[str, aiosmtplib.SMTPResponse], str]:
    return await aiosmtplib.send(msg, sender="ann@example.com", recipients=recipients or [INBOX],
                                 hostname="127.0.0.1", port=inbox.server.port, start_tls=False,
                                 timeout=10)


async def test_accepted_mail_is_delivered_before_the_250(inbox: Inbox) -> None:
    inbox.gate = asyncio.Event()
    sending = asyncio.create_task(send(inbox, mail()))
    await asyncio.wait_for(inbox.entered.wait(), 10)
    await asyncio.sleep(0.05)
    assert not sending.done()  # no answer while the message is not stored yet
    inbox.gate.set()
    errors, reply = await asyncio.wait_for(sending, 10)
    assert errors == {} and reply.startswith("2.0.0 OK")
    [(recipients, raw)] = inbox.delivered
    assert recipients == [INBOX]
    [message] = parse_email(raw, max_attachment_bytes=1, max_total_bytes=1).messages
    assert message.external_id == "parcel-1@example.com"
    assert message.text == "Where is my parcel?\n"
    # Delivered inside the application's own event loop, not a server thread's.
    assert inbox.loops == [asyncio.get_running_loop()]


async def test_plus_address_is_accepted_for_a_known_inbox(inbox: Inbox) -> None:
    await send(inbox, mail("support+Tk3x9QaZ_2mB@acme.test"),
               ["Support+Tk3x9QaZ_2mB@Acme.test"])
    [(recipients, raw)] = inbox.delivered
    assert recipients == ["Support+Tk3x9QaZ_2mB@Acme.test"]  # as written: tokens keep case
    assert inbox.asked == ["support+tk3x9qaz_2mb@acme.test", INBOX]
    [message] = parse_email(raw, max_attachment_bytes=1, max_total_bytes=1, inbox=INBOX,
                            recipients=recipients).messages
    assert message.reply_token == "Tk3x9QaZ_2mB"


async def test_unknown_recipient_is_550(inbox: Inbox) -> None:
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(inbox, mail("nobody@acme.test"), ["nobody@acme.test"])
    [recipient] = refused.value.recipients
    assert recipient.code == 550 and "5.1.1" in recipient.message
    assert inbox.delivered == []


async def test_only_known_recipients_of_a_mixed_list_are_delivered(inbox: Inbox) -> None:
    errors, _ = await send(inbox, mail(), ["nobody@acme.test", INBOX])
    assert errors["nobody@acme.test"].code == 550
    assert [recipients for recipients, _ in inbox.delivered] == [[INBOX]]


async def test_failed_delivery_is_451_never_250(inbox: Inbox) -> None:
    inbox.failure = RuntimeError("database is locked")
    with pytest.raises(aiosmtplib.SMTPDataError) as failed:
        await send(inbox, mail())
    assert failed.value.code == 451
    assert "database" not in failed.value.message  # internals stay in the log
    assert inbox.delivered == []


async def test_failing_recipient_lookup_is_a_temporary_failure(inbox: Inbox) -> None:
    inbox.accepts_fails = True
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        await send(inbox, mail())
    assert refused.value.recipients[0].code == 451


async def test_oversized_attachment_is_552_naming_the_file(inbox: Inbox) -> None:
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(inbox, mail(attachment=b"x" * 1001))
    assert refused.value.code == 552
    assert "5.3.4" in refused.value.message and "scan.bin" in refused.value.message
    assert inbox.delivered == []


async def test_message_over_the_size_limit_is_552(inbox: Inbox) -> None:
    big = mail(body="word " * 20000)
    # A client that declares the size (SIZE=) is turned away before sending it...
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
        await send(inbox, big)
    assert refused.value.code == 552
    # ...and one that does not is refused once the data passes the limit.
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=inbox.server.port, start_tls=False,
                             timeout=10)
    async with client:
        await client.mail("ann@example.com")
        await client.rcpt(INBOX)
        with pytest.raises(aiosmtplib.SMTPDataError) as too_much:
            await client.data(bytes(big))
    assert too_much.value.code == 552
    assert inbox.entered.is_set() is False


async def test_unreadable_mail_is_refused_permanently(inbox: Inbox) -> None:
    raw = b"To: support@acme.test\r\nSubject: no sender\r\n\r\nhello\r\n"
    with pytest.raises(aiosmtplib.SMTPDataError) as refused:
        await send(inbox, raw)
    assert refused.value.code == 554
    assert "From" in refused.value.message


async def test_recipients_are_capped_per_message(inbox: Inbox) -> None:
    many = [INBOX] + [f"support+token{i:04d}@acme.test" for i in range(104)]
    errors, _ = await send(inbox, mail(), many)
    assert len(errors) == 5 and {e.code for e in errors.values()} == {452}
    [(recipients, _)] = inbox.delivered
    assert len(recipients) == 100


async def test_a_stopped_server_refuses_connections(inbox: Inbox) -> None:
    port = inbox.server.port
    await inbox.server.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(mail(), hostname="127.0.0.1", port=port, start_tls=False,
                              timeout=5)
