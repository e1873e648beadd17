"""What can go wrong with an email, in the terms the SMTP server and the sender answer in."""

from __future__ import annotations

import re

_UNSAFE_REPLY = re.compile(r"[^\x20-\x7e]")


class EmailRejected(ValueError):
    """An inbound email refused for good: the SMTP server answers ``smtp_code`` with it.

    A permanent (5xx) answer tells the sending server not to retry, which is right for a
    message that will never be accepted as it is.
    """

    smtp_code = "554 5.6.0"

    def smtp_reply(self) -> str:
        # The text may carry a sender-chosen file name: one printable ASCII line only, so
        # it can neither break the SMTP response nor inject another one.
        text = _UNSAFE_REPLY.sub("?", str(self))[:200]
        return f"{self.smtp_code} {text}"


class AttachmentTooLarge(EmailRejected):
    """An attachment, or all of them together, exceeds the channel's limit."""

    smtp_code = "552 5.3.4"


class MalformedEmail(EmailRejected):
    """The email cannot be understood (no sender address, for example)."""


class InvalidMessage(ValueError):
    """An outbound message that cannot be sent as email; the message says what to fix."""


class HeaderInjection(InvalidMessage):
    """A value meant for one header carries line breaks or other control characters."""


class InvalidAddress(InvalidMessage):
    """Not a single plain email address (``local@domain.tld``)."""
