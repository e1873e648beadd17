"""An inbound email (raw RFC 5322 bytes) as the plain data the conversations service stores.

Everything in the message is the sender's word and is treated so: ids are cleaned,
names and subjects are reduced to one printable line, file names lose their paths, HTML
stays marked untrusted, and a reply token is only believed in the shape we hand out.
"""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Iterable, Sequence
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import default
from email.utils import getaddresses

from cxprism.channels.email.bounces import read_bounce
from cxprism.channels.email.errors import AttachmentTooLarge, InvalidMessage, MalformedEmail
from cxprism.channels.email.headers import (
    REPLY_TOKEN,
    clean_message_id,
    message_ids,
    normalise_address,
    safe_filename,
    split_plus,
)
from cxprism.channels.email.mime import (
    decoded_headers,
    leaves,
    one_line,
    parse_date,
    part_bytes,
    raw_header,
    raw_headers,
    text_of,
)
from cxprism.channels.protocol import Address, Attachment, InboundMessage, WebhookResult
from cxprism.kit.html import html_to_text

MAX_THREAD_REFS = 50
MAX_NAME = 200
SYNTHETIC_ID_DOMAIN = "cxprism.invalid"
_AUTO_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})
_AUTO_SUBJECTS = ("automatic reply:", "out of office")


def parse_email(raw: bytes, *, max_attachment_bytes: int, max_total_bytes: int,
                inbox: str | None = None, recipients: Sequence[str] = ()) -> WebhookResult:
    """Read one email: a message in ``.messages``, or a bounce in ``.statuses``.

    ``inbox`` (the channel's address), when given, limits reply tokens to plus-addresses
    of that inbox, so a customer copying ``someone+tag@elsewhere`` plants no token.
    ``recipients`` are the SMTP envelope's (they include Bcc), searched for a token first.
    A bounce yields ``.statuses`` (possibly empty: a delay, or an unknown original) and
    no message. Raises :class:`AttachmentTooLarge` past either limit and
    :class:`MalformedEmail` when the email cannot be read (no usable sender, absurd
    nesting); both are permanent refusals.
    """
    try:
        msg = BytesParser(policy=default).parsebytes(raw)
        bounce = read_bounce(msg)
        if bounce is not None:
            return WebhookResult(statuses=bounce)
        message = _inbound(msg, raw, max_attachment_bytes, max_total_bytes)
    except RecursionError:
        # Parts nested thousands deep exhaust the (recursive) email package: no real
        # mail looks like that, and retrying will not make it readable.
        raise MalformedEmail("the email's parts are nested too deeply to read") from None
    message.reply_token = _reply_token(msg, inbox, recipients)
    return WebhookResult(messages=[message])


def _inbound(msg: EmailMessage, raw: bytes, max_attachment_bytes: int,
             max_total_bytes: int) -> InboundMessage:
    address, name = _sender(msg)
    plain = msg.get_body(preferencelist=("plain",))
    rich = msg.get_body(preferencelist=("html",))
    html = text_of(rich) if rich is not None else None
    attachments, content_ids = _attachments(msg, (plain, rich), max_attachment_bytes,
                                            max_total_bytes)
    message_id, synthetic = _message_id(msg, raw)
    metadata: dict[str, object] = {"to": _addresses(msg, "To"), "cc": _addresses(msg, "Cc")}
    if synthetic:
        metadata["synthetic_message_id"] = True
    if content_ids:
        metadata["content_ids"] = content_ids  # cid → file name, for inline images
    subjects = decoded_headers(msg, "Subject")
    return InboundMessage(
        external_id=message_id,
        sender=[Address(kind="email", value=address)],
        text=text_of(plain) if plain is not None else html_to_text(html or ""),
        html=html,
        subject=(one_line(subjects[0]) or None) if subjects else None,
        sender_name=name,
        thread_refs=_thread_refs(msg, message_id),
        attachments=attachments,
        sent_at=parse_date(raw_header(msg, "Date")),
        metadata=metadata,
        auto_reply=is_auto_reply(msg),
    )


def _message_id(msg: Message, raw: bytes) -> tuple[str, bool]:
    """The Message-ID, and whether it had to be made up."""
    found = raw_header(msg, "Message-ID")
    cleaned = clean_message_id(found) if found else None
    if cleaned:
        return cleaned, False
    # No usable id: derive one from the bytes, so the same email delivered twice (a
    # retrying server, a replayed file) still deduplicates.
    return f"{hashlib.sha256(raw).hexdigest()[:48]}@{SYNTHETIC_ID_DOMAIN}", True


def _sender(msg: Message) -> tuple[str, str | None]:
    for display, candidate in getaddresses(decoded_headers(msg, "From")):
        try:
            address = normalise_address(candidate, "From")
        except InvalidMessage:
            continue
        name = one_line(display, MAX_NAME).strip("\"' ")
        return address, (name if name and name.lower() != address else None)
    raise MalformedEmail("the email has no valid From address")


def _addresses(msg: Message, header: str) -> list[str]:
    found: list[str] = []
    for _name, candidate in getaddresses(decoded_headers(msg, header)):
        try:
            found.append(normalise_address(candidate, header))
        except InvalidMessage:
            continue
    return found


def _thread_refs(msg: Message, own_id: str) -> list[str]:
    """In-Reply-To first, then References newest first: the likeliest parent leads."""
    replied = [i for value in raw_headers(msg, "In-Reply-To") for i in message_ids(value)]
    referenced = [i for value in raw_headers(msg, "References") for i in message_ids(value)]
    refs: list[str] = []
    for ref in [*replied, *reversed(referenced)]:
        if ref != own_id and ref not in refs:
            refs.append(ref)
    return refs[:MAX_THREAD_REFS]


def _reply_token(msg: Message, inbox: str | None, envelope: Sequence[str]) -> str | None:
    headers = [addr for h in ("To", "Cc", "Delivered-To")
               for _name, addr in getaddresses(decoded_headers(msg, h))]
    for candidate in [*envelope, *headers]:
        base, tag = split_plus(candidate.strip())
        if tag is None or not REPLY_TOKEN.fullmatch(tag):
            continue
        if inbox is None or base.lower() == inbox.lower():
            return tag
    return None


def is_auto_reply(msg: Message) -> bool:
    """RFC 3834 ``Auto-Submitted`` and the vendor headers and subjects in common use.

    ``X-Auto-Response-Suppress`` alone proves nothing: Outlook sets it on ordinary mail.
    """
    submitted = one_line(raw_header(msg, "Auto-Submitted") or "").lower()
    if submitted and submitted.split(";")[0].strip() != "no":
        return True
    if raw_header(msg, "X-Autoreply") is not None or raw_header(msg, "X-Autorespond") is not None:
        return True
    if one_line(raw_header(msg, "Precedence") or "").lower() in _AUTO_PRECEDENCE:
        return True
    subject = one_line(" ".join(decoded_headers(msg, "Subject"))).lower()
    return subject.startswith(_AUTO_SUBJECTS)


def _attachments(msg: EmailMessage, bodies: Iterable[Message | None], max_each: int,
                 max_total: int) -> tuple[list[Attachment], dict[str, str]]:
    body_parts = [b for b in bodies if b is not None]
    found: list[Attachment] = []
    content_ids: dict[str, str] = {}
    total = 0
    for index, part in enumerate(leaves(msg), start=1):
        if any(part is body for body in body_parts) or _is_extra_body(part):
            continue
        content_type = part.get_content_type()
        name = safe_filename(_filename(part), _fallback_name(index, content_type))
        data = part_bytes(part)
        if len(data) > max_each:
            raise AttachmentTooLarge(
                f"attachment {name!r} is {len(data)} bytes; the limit is {max_each} bytes")
        total += len(data)
        if total > max_total:
            raise AttachmentTooLarge(
                f"the attachments exceed {max_total} bytes in total (at {name!r})")
        found.append(Attachment(filename=name, content_type=content_type, data=data))
        cid = raw_header(part, "Content-ID")
        if cid and (cleaned := clean_message_id(cid)):
            content_ids[cleaned] = name
    return found, content_ids


def _is_extra_body(part: Message) -> bool:
    """An unnamed text or HTML part that is not the chosen body: an alternative version
    or a continuation, text rather than a file the sender attached."""
    return (part.get_content_type() in {"text/plain", "text/html"}
            and not _filename(part) and part.get_content_disposition() != "attachment")


def _filename(part: Message) -> str | None:
    try:
        return part.get_filename()
    except Exception:  # a malformed RFC 2231 parameter can raise; the part stays unnamed
        return None


def _fallback_name(index: int, content_type: str) -> str:
    if content_type in {"message/rfc822", "message/global"}:
        return f"message-{index}.eml"
    return f"attachment-{index}{mimetypes.guess_extension(content_type) or '.bin'}"
