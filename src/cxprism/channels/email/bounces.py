"""Bounces: delivery status notifications (RFC 3464) and the common non-standard kind.

A bounce is news about a message we sent, not a customer writing: it becomes a
:class:`StatusUpdate` for the original Message-ID, never a conversation with a mailer
daemon. Only a final failure counts; a "still trying" notice changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import replace
from email.message import Message
from email.parser import HeaderParser
from email.policy import compat32
from email.utils import collapse_rfc2231_value, getaddresses

from cxprism.channels.email.headers import clean_message_id
from cxprism.channels.email.mime import (
    decoded_headers,
    leaves,
    one_line,
    parse_date,
    part_bytes,
    raw_header,
    text_of,
)
from cxprism.channels.protocol import DeliveryStatus, StatusUpdate

MAX_REASON = 500
_STATUS_PARTS = frozenset({"message/delivery-status", "message/global-delivery-status"})
_ORIGINAL_PARTS = frozenset({
    "message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers",
})
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_STATUS_CODE = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")
_QUOTED_MESSAGE_ID = re.compile(r"^message-id:[ \t]*(<[^<>\s]+>)", re.IGNORECASE | re.MULTILINE)
_BLOCK_SEPARATOR = re.compile(r"\r?\n[ \t]*\r?\n")
_DELAY_WORDS = ("delay", "warning", "still trying", "will retry")


def read_bounce(msg: Message) -> list[StatusUpdate] | None:
    """None if ``msg`` is no bounce; else the updates it carries (none for a delay).

    A bounce whose original message cannot be identified also yields no update: there is
    nothing to attach it to, and it must not become a customer conversation either.
    """
    if _is_delivery_report(msg):
        return _from_report(msg)
    if _from_daemon(msg):
        text = "\n".join(text_of(p) for p in leaves(msg) if p.get_content_type() == "text/plain")
        original = _original_id(msg) or _quoted_original_id(text)
        if original is not None:
            return _from_daemon_text(msg, original, text)
    return None


def _is_delivery_report(msg: Message) -> bool:
    if msg.get_content_type() != "multipart/report":
        return False
    report_type = msg.get_param("report-type", "")
    return collapse_rfc2231_value(report_type).strip().lower() == "delivery-status"


def _from_report(msg: Message) -> list[StatusUpdate]:
    status_part = next((p for p in leaves(msg) if p.get_content_type() in _STATUS_PARTS), None)
    original = _original_id(msg)
    if status_part is None or original is None:
        return []
    for block in _field_blocks(status_part)[1:]:  # the first block is per-message
        update = _recipient_update(block, original)
        if update is not None:
            return [replace(update, at=parse_date(raw_header(msg, "Date")))]
    return []


def _recipient_update(block: Message, original: str) -> StatusUpdate | None:
    action = one_line(raw_header(block, "Action") or "").lower()
    status = one_line(raw_header(block, "Status") or "").split(" ")[0]
    if action != "failed":
        return None  # delayed, delivered, relayed, expanded: nothing went wrong for good
    diagnostic = one_line(raw_header(block, "Diagnostic-Code") or "")
    reason = one_line(f"{status} {diagnostic}", MAX_REASON) or "failed"
    if status.startswith("4"):
        # The sending server gave up on a temporary error (its queue expired): the
        # message was not delivered, but the address itself was not refused.
        return StatusUpdate(external_id=original, status=DeliveryStatus.FAILED, reason=reason)
    return StatusUpdate(external_id=original, status=DeliveryStatus.BOUNCED, reason=reason)


def _field_blocks(part: Message) -> list[Message]:
    """The report's field groups. The email package splits ``message/delivery-status``
    itself; the UTF-8 variant it reads as one message, so that one is split here."""
    payload = part.get_payload()
    if part.get_content_type() == "message/delivery-status" and isinstance(payload, list):
        return [item for item in payload if isinstance(item, Message)]
    parser = HeaderParser(policy=compat32)
    text = part_bytes(part).decode("utf-8", "replace")
    return [parser.parsestr(block.strip() + "\n") for block in _BLOCK_SEPARATOR.split(text)
            if block.strip()]


def _original_id(msg: Message) -> str | None:
    """The Message-ID of the message that bounced, from the copy the bounce carries."""
    for part in leaves(msg):
        if part.get_content_type() not in _ORIGINAL_PARTS:
            continue
        payload = part.get_payload()
        if isinstance(payload, list) and payload and isinstance(payload[0], Message):
            headers: Message = payload[0]
        else:
            headers = HeaderParser(policy=compat32).parsestr(text_of(part))
        found = raw_header(headers, "Message-ID")
        if found and (original := clean_message_id(found)):
            return original
    return None


def _from_daemon(msg: Message) -> bool:
    for _name, address in getaddresses(decoded_headers(msg, "From")):
        if address.partition("@")[0].lower() in _DAEMONS:
            return True
    return False


def _from_daemon_text(msg: Message, original: str, text: str) -> list[StatusUpdate]:
    """A bounce without a delivery report: judge it by its subject and its words."""
    subject = one_line(" ".join(decoded_headers(msg, "Subject")))
    code = _STATUS_CODE.search(f"{subject}\n{text}")
    if (code and code.group(1) != "5") or any(w in subject.lower() for w in _DELAY_WORDS):
        return []
    reason = one_line(f"{code.group(0)} {subject}" if code else subject, MAX_REASON)
    return [StatusUpdate(external_id=original, status=DeliveryStatus.BOUNCED,
                         reason=reason or "bounced", at=parse_date(raw_header(msg, "Date")))]


def _quoted_original_id(text: str) -> str | None:
    """The original's Message-ID when a bounce quotes its headers inline (qmail style)."""
    found = _QUOTED_MESSAGE_ID.search(text)
    return clean_message_id(found.group(1)) if found else None
