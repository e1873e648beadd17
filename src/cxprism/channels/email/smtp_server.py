"""The inbound SMTP server: accepts mail for connected inboxes and nothing else.

It runs inside the application's event loop, not in a thread with a loop of its own,
because ``deliver`` stores the message with the application's database engine, whose
connections belong to the loop that made them.

A message is acknowledged (250) only after ``deliver`` has returned, which it does after
its transaction committed: until then the sending server still holds the message and
will retry, so a crash between the two loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Awaitable, Callable

from aiosmtpd.smtp import SMTP, Envelope, Session

from cxprism.channels.email.errors import EmailRejected
from cxprism.channels.email.headers import split_plus

log = logging.getLogger("cxprism.channels.email.smtp")

MIB = 1024 * 1024
MAX_RECIPIENTS = 100
IDLE_TIMEOUT_SECONDS = 300.0
TEMPORARY_FAILURE = "451 4.3.0 temporary failure, try again"
UNKNOWN_MAILBOX = "550 5.1.1 mailbox unavailable"

Accepts = Callable[[str], Awaitable[bool]]
Deliver = Callable[[list[str], bytes], Awaitable[None]]


class _Handler:
    """aiosmtpd's hooks: who we take mail for, and what happens to it."""

    def __init__(self, accepts: Accepts, deliver: Deliver) -> None:
        self._accepts = accepts
        self._deliver = deliver

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        if len(envelope.rcpt_tos) >= MAX_RECIPIENTS:
            return "452 4.5.3 too many recipients"
        if not await self._is_ours(address):
            return UNKNOWN_MAILBOX
        # The address keeps its case: a reply token in a plus-address is case-sensitive.
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def _is_ours(self, address: str) -> bool:
        lowered = address.strip().lower()
        if await self._accepts(lowered):
            return True
        base, tag = split_plus(lowered)
        return tag is not None and await self._accepts(base)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        try:
            await self._deliver(list(envelope.rcpt_tos), envelope.original_content or b"")
        except EmailRejected as exc:
            log.info("inbound email from %s refused: %s", envelope.mail_from, exc)
            return exc.smtp_reply()
        except Exception:
            # Never 250 a message we did not store: a temporary failure makes the
            # sending server try again later.
            log.exception("inbound email from %s was not delivered", envelope.mail_from)
            return TEMPORARY_FAILURE
        return "250 2.0.0 OK"

    async def handle_exception(self, error: Exception) -> str:
        # ``accepts`` failing (the database away) must not reach the client as aiosmtpd's
        # default "500 <exception text>": that is permanent, and it leaks internals.
        log.exception("inbound SMTP session failed", exc_info=error)
        return TEMPORARY_FAILURE


class InboundSmtp:
    """An SMTP server on ``host:port`` (port 0: any free port, see :attr:`port`).

    ``accepts(address)`` gets a lower-cased recipient and says whether a channel receives
    for it; ``local+tag@domain`` is accepted when ``local@domain`` is. ``deliver(recipients,
    raw)`` stores a message (recipients as the client wrote them) and returns after its
    commit; raising :class:`EmailRejected` refuses the message for good (its SMTP code),
    anything else asks the sender to retry.
    """

    def __init__(self, host: str, port: int, *, accepts: Accepts, deliver: Deliver,
                 max_message_bytes: int = 35 * MIB, hostname: str | None = None) -> None:
        self.host = host
        self._port = port
        self._handler = _Handler(accepts, deliver)
        self._max_message_bytes = max_message_bytes
        # Named once: aiosmtpd would otherwise look the machine's name up per connection.
        self._hostname = hostname or socket.gethostname()
        self._server: asyncio.Server | None = None
        self._sessions: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def port(self) -> int:
        """The bound port once started (useful with port 0), else the one asked for."""
        return self._port

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the SMTP server is already running")
        loop = asyncio.get_running_loop()
        # reuse_port: every `serve` process of a scaled-out deployment listens on the same
        # port, and the kernel spreads connections between them.
        self._server = await loop.create_server(lambda: self._session(loop),
                                                self.host, self._port, reuse_port=True)
        self._port = self._server.sockets[0].getsockname()[1]
        log.info("inbound SMTP listening on %s:%s", self.host, self._port)

    def _session(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        session = SMTP(self._handler, data_size_limit=self._max_message_bytes,
                       enable_SMTPUTF8=True, decode_data=False, hostname=self._hostname,
                       timeout=IDLE_TIMEOUT_SECONDS, loop=loop)
        self._sessions.add(session)
        return session

    async def stop(self) -> None:
        """Stop listening and drop open sessions; a message whose 250 was not sent yet
        is retried by its sender, so nothing is lost."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
        try:
            await asyncio.wait_for(server.wait_closed(), timeout=5)
        except TimeoutError:
            log.warning("inbound SMTP sessions did not close within 5 seconds")
