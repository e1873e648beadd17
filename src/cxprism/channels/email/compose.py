"""An :class:`OutboundMessage` as an RFC 5322 email, threaded into the customer's mailbox.

Every value that reaches a header is checked here before the email package sees it: a
line break smuggled into a subject, a name or a recipient would otherwise add headers
(a ``Bcc:``) or a whole second body. Refusing is right; cleaning would send something
the sender did not write.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.policy import default
from email.utils import format_datetime
from typing import Any

from cxprism.channels.email.config import EmailConfig
from cxprism.channels.email.errors import InvalidMessage
from cxprism.channels.email.headers import (
    REPLY_TOKEN,
    ascii_domain,
    check_header_value,
    check_message_id,
    normalise_address,
    safe_filename,
)
from cxprism.channels.protocol import Attachment, OutboundMessage

# 7-bit transfer encodings throughout, so any relay takes the message whether or not it
# offers 8BITMIME; otherwise the standard policy.
POLICY = default.clone(cte_type="7bit")
MAX_REFERENCES = 20
# Message-IDs derived from an idempotency key live in their own UUID namespace, so a
# retried send carries the same id and mail programs see one message, not two.
_MESSAGE_ID_NAMESPACE = uuid.UUID("5d0f3f8e-5b7a-4c38-9d0b-6a1e2f4c7b19")
_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,126}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")
_MAX_LOCAL_PART = 64


def compose_email(config: EmailConfig, message: OutboundMessage, *, message_id_domain: str,
                  now: datetime | None = None) -> tuple[EmailMessage, str]:
    """The email to send and its Message-ID (without brackets), the send's external id.

    ``message.references`` are the thread's earlier ids oldest first (the order of the
    References header); ``message.in_reply_to`` is added last when missing.
    ``message.metadata["reply_token"]`` puts ``inbox+TOKEN@domain`` in ``Reply-To`` so
    the answer finds its conversation even if the customer's program drops the
    threading headers. Raises :class:`InvalidMessage` (and its :class:`HeaderInjection`
    and :class:`InvalidAddress`) with what to fix.
    """
    to = normalise_address(message.to, "to")
    domain = ascii_domain(check_header_value("message_id_domain", message_id_domain))
    from_name = check_header_value("from_name", config.from_name or "").strip()
    subject = _subject(message)
    in_reply_to = (check_message_id("in_reply_to", message.in_reply_to)
                   if message.in_reply_to else None)
    references = _references(message.references, in_reply_to)
    token = _reply_token(config, message.metadata)
    message_id = new_message_id(message.idempotency_key, domain)

    msg = EmailMessage(policy=POLICY)
    msg["From"] = HeaderAddress(display_name=from_name, addr_spec=config.address)
    msg["To"] = HeaderAddress(addr_spec=to)
    if subject:
        msg["Subject"] = subject
    msg["Date"] = format_datetime(now or datetime.now(UTC))
    msg["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        msg["In-Reply-To"] = f"<{in_reply_to}>"
    if references:
        msg["References"] = " ".join(f"<{ref}>" for ref in references)
    if token:
        local, _, inbox_domain = config.address.partition("@")
        msg["Reply-To"] = HeaderAddress(display_name=from_name, username=f"{local}+{token}",
                                        domain=inbox_domain)
    _set_body(msg, message)
    return msg, message_id


def new_message_id(idempotency_key: str | None, domain: str) -> str:
    """``<uuid>@domain`` (without brackets): stable for a key, random without one."""
    unique = (uuid.uuid5(_MESSAGE_ID_NAMESPACE, idempotency_key) if idempotency_key
              else uuid.uuid4())
    return f"{unique}@{domain}"


def _subject(message: OutboundMessage) -> str:
    subject = check_header_value("subject", message.subject or "").strip()
    if message.in_reply_to and subject and not subject.lower().startswith("re:"):
        return f"Re: {subject}"
    return subject


def _references(references: list[str], in_reply_to: str | None) -> list[str]:
    ids: list[str] = []
    for ref in references:
        checked = check_message_id("references", ref)
        if checked not in ids:
            ids.append(checked)
    if in_reply_to and in_reply_to not in ids:
        ids.append(in_reply_to)
    if len(ids) > MAX_REFERENCES:
        # Keep the thread's root and its latest messages, as RFC 5322 suggests for long
        # chains: the root anchors the thread, the latest find the parent.
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1):]]
    return ids


def _reply_token(config: EmailConfig, metadata: dict[str, Any]) -> str | None:
    token = metadata.get("reply_token")
    if token is None or token == "":
        return None
    if not isinstance(token, str):
        raise InvalidMessage("reply_token must be a string")
    check_header_value("reply_token", token)
    if not REPLY_TOKEN.fullmatch(token):
        raise InvalidMessage("reply_token must be 8 to 64 letters, digits, '_' or '-'")
    local = config.address.partition("@")[0]
    if len(local) + 1 + len(token) > _MAX_LOCAL_PART:
        raise InvalidMessage(
            f"reply_token is too long for the inbox {config.address!r}: an address's local "
            f"part holds at most {_MAX_LOCAL_PART} characters")
    return token


def _set_body(msg: EmailMessage, message: OutboundMessage) -> None:
    msg.set_content(message.text, subtype="plain", charset="utf-8")
    if message.html:
        msg.add_alternative(message.html, subtype="html", charset="utf-8")
    for index, attachment in enumerate(message.attachments, start=1):
        maintype, subtype = _content_type(attachment).split("/", 1)
        msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype,
                           filename=safe_filename(attachment.filename,
                                                  f"attachment-{index}"))


def _content_type(attachment: Attachment) -> str:
    if not attachment.data:
        # Email carries files, not links: the service must fetch hosted media first.
        raise InvalidMessage(f"attachment {attachment.filename!r} has no data to send")
    content_type = attachment.content_type.strip().lower()
    # Container types need structure of their own; as opaque bytes they travel as files.
    if not _CONTENT_TYPE.fullmatch(content_type) or content_type.startswith(
            ("multipart/", "message/")):
        return "application/octet-stream"
    return content_type
