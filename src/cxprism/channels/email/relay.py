"""Handing an email to the channel's SMTP relay, and what the relay's answers mean.

The session is driven step by step rather than through ``aiosmtplib.send`` so that a
failure can be placed: before ``DATA`` nothing was sent and a retry is safe; a lost
answer to ``DATA`` may mean the relay took the message, and a blind retry would send it
twice, so that outcome is reported as unknown instead.
"""

from __future__ import annotations

import logging

import aiosmtplib
from aiosmtplib import (
    SMTPConnectError,
    SMTPException,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from cxprism.channels.email.config import EmailConfig
from cxprism.channels.protocol import DeliveryStatus, SendError

log = logging.getLogger("cxprism.channels.email")
MAX_ERROR_TEXT = 300
_UNREACHABLE = (SMTPTimeoutError, SMTPConnectError, SMTPServerDisconnected, OSError)


async def relay(config: EmailConfig, *, sender: str, recipient: str,
                data: bytes) -> DeliveryStatus:
    """Send ``data`` from ``sender`` to ``recipient``: SENT, or UNKNOWN if the relay's
    answer to the message itself was lost. Raises :class:`SendError` otherwise."""
    client = aiosmtplib.SMTP(
        hostname=config.smtp_host,
        port=config.smtp_port,
        timeout=config.timeout_seconds,
        use_tls=config.smtp_tls == "tls",
        start_tls=config.smtp_tls == "starttls",
        username=config.smtp_username,
        password=config.smtp_password,
        # Our own domain in EHLO, instead of a reverse lookup of this machine's name.
        local_hostname=config.domain,
    )
    try:
        try:
            await client.connect()
            await client.mail(sender)
            await client.rcpt(recipient)
        except (SMTPException, OSError) as exc:
            raise send_error(exc, config) from exc
        try:
            await client.data(data)
        except SMTPResponseException as exc:
            raise send_error(exc, config) from exc
        except (SMTPException, OSError) as exc:
            log.warning("email to the relay %s:%s: the answer to DATA was lost (%s); the "
                        "message may or may not have been sent", config.smtp_host,
                        config.smtp_port, exc)
            return DeliveryStatus.UNKNOWN
        return DeliveryStatus.SENT
    finally:
        await _close(client)


def send_error(exc: Exception, config: EmailConfig) -> SendError:
    """A relay's refusal or silence as a :class:`SendError`: 4xx and no answer at all are
    worth retrying; 5xx, refused credentials and missing capabilities are not."""
    if isinstance(exc, SMTPRecipientsRefused):
        codes = [refused.code for refused in exc.recipients]
        transient = bool(codes) and all(400 <= code < 500 for code in codes)
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        return SendError(_text(f"the relay refused the recipient: {detail}"),
                         transient=transient, code=f"smtp_{codes[0] if codes else 'refused'}")
    if isinstance(exc, SMTPResponseException):
        transient = not 500 <= exc.code < 600
        return SendError(_text(f"the relay answered {exc.code} {exc.message}"),
                         transient=transient, code=f"smtp_{exc.code}")
    if isinstance(exc, _UNREACHABLE):
        return SendError(
            _text(f"could not talk to the relay {config.smtp_host}:{config.smtp_port}: "
                  f"{exc or type(exc).__name__}"),
            transient=True, code="smtp_unavailable")
    # Anything else is the relay lacking what the configuration asks for (STARTTLS,
    # AUTH): retrying will not change it; the channel's settings must.
    return SendError(_text(f"the relay cannot be used as configured: {exc}"),
                     transient=False, code="smtp_configuration")


def _text(message: str) -> str:
    return " ".join(message.split())[:MAX_ERROR_TEXT]


async def _close(client: aiosmtplib.SMTP) -> None:
    if not client.is_connected:
        return
    try:
        await client.quit()
    except (SMTPException, OSError):
        # The message's fate is already decided; a failed goodbye changes nothing.
        client.close()
