"""The email channel: mail in through our SMTP server, mail out through the workspace's relay."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import httpx
from pydantic import BaseModel

from cxprism.channels.email.compose import compose_email
from cxprism.channels.email.config import EmailConfig
from cxprism.channels.email.errors import InvalidMessage
from cxprism.channels.email.parse import parse_email
from cxprism.channels.email.relay import relay
from cxprism.channels.protocol import (
    Address,
    OutboundMessage,
    SendError,
    SendResult,
    WebhookResult,
    config_as,
    first_address,
)

# One message's attachments together: enough for a few large files, and below the
# inbound server's 35 MiB message limit once base64 has grown them by a third.
MAX_TOTAL_ATTACHMENT_BYTES = 25 * 1024 * 1024



class EmailConnector:
    """Speaks :class:`~cxprism.channels.protocol.Connector` for ``kind = "email"``.

    Inbound mail does not come by webhook: the SMTP server (``smtp_server``) finds the
    channel by recipient address and hands the raw bytes to :meth:`parse`.
    """

    kind: ClassVar[str] = "email"
    config_model: ClassVar[type[BaseModel]] = EmailConfig
    secret_fields: ClassVar[frozenset[str]] = frozenset({"smtp_password"})

    def address_of(self, config: BaseModel) -> str:
        return config_as(config, EmailConfig).address

    def recipient_of(self, config: BaseModel, addresses: list[Address]) -> str | None:
        return first_address(addresses, "email")

    async def send(self, config: BaseModel, message: OutboundMessage,
                   http: httpx.AsyncClient) -> SendResult:
        """Compose and relay; ``http`` is unused (SMTP, not HTTP).

        The result's status is UNKNOWN, not SENT, when the relay's answer to the message
        was lost: it may have gone out, so it must not be resent blindly.
        """
        email_config = config_as(config, EmailConfig)
        try:
            msg, message_id = compose_email(email_config, message,
                                            message_id_domain=email_config.domain)
        except InvalidMessage as exc:
            raise SendError(str(exc), transient=False, code="invalid_message") from None
        recipient = msg["To"].addresses[0].addr_spec
        status = await relay(email_config, sender=email_config.address, recipient=recipient,
                             data=msg.as_bytes())
        return SendResult(external_id=message_id, status=status)

    def parse(self, raw: bytes, config: BaseModel, *,
              recipients: Sequence[str] = ()) -> WebhookResult:
        """Read an email that arrived for this channel (``recipients``: the envelope's).

        Raises :class:`~cxprism.channels.email.errors.AttachmentTooLarge` and
        :class:`~cxprism.channels.email.errors.MalformedEmail`, which the SMTP server
        answers with a permanent refusal.
        """
        email_config = config_as(config, EmailConfig)
        return parse_email(raw, max_attachment_bytes=email_config.max_attachment_bytes,
                           max_total_bytes=MAX_TOTAL_ATTACHMENT_BYTES,
                           inbox=email_config.address, recipients=recipients)
