"""The inbound SMTP server that ``serve`` runs beside the API (``CXPRISM_SMTP_*``)."""

from __future__ import annotations

import logging

from cxprism.channels.cache import ChannelCache
from cxprism.channels.email.smtp_server import InboundSmtp
from cxprism.config import Settings
from cxprism.conversations.batcher import InboundBatcher
from cxprism.conversations.email_inbound import EmailInbound

log = logging.getLogger("cxprism.email")


async def start_mail_server(channels: ChannelCache, batcher: InboundBatcher,
                            settings: Settings) -> InboundSmtp | None:
    if not settings.smtp_enabled:
        return None
    inbound = EmailInbound(channels, batcher)
    server = InboundSmtp(settings.smtp_host, settings.smtp_port, accepts=inbound.accepts,
                         deliver=inbound.deliver)
    await server.start()
    log.info("receiving mail on %s:%d", settings.smtp_host, server.port)
    return server
