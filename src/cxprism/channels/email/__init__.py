"""The email channel: RFC 5322 in over our own SMTP server, out through an SMTP relay."""

from __future__ import annotations

from cxprism.channels.email.compose import compose_email
from cxprism.channels.email.config import EmailConfig
from cxprism.channels.email.connector import EmailConnector
from cxprism.channels.email.errors import (
    AttachmentTooLarge,
    EmailRejected,
    HeaderInjection,
    InvalidAddress,
    InvalidMessage,
    MalformedEmail,
)
from cxprism.channels.email.parse import parse_email
from cxprism.channels.email.smtp_server import InboundSmtp

__all__ = [
    "AttachmentTooLarge",
    "EmailConfig",
    "EmailConnector",
    "EmailRejected",
    "HeaderInjection",
    "InboundSmtp",
    "InvalidAddress",
    "InvalidMessage",
    "MalformedEmail",
    "compose_email",
    "parse_email",
]
