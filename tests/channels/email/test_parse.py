"""Real-shaped inbound email (Gmail, Outlook, auto-replies, hostile parts) read as data."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from cxprism.channels.email import AttachmentTooLarge, MalformedEmail, parse_email
from cxprism.channels.protocol import Address, InboundMessage

FIXTURES = Path(__file__).parent / "fixtures"
MIB = 1024 * 1024


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse_one(raw: bytes, **kwargs: object) -> InboundMessage:
    options: dict[str, object] = {"max_attachment_bytes": MIB, "max_total_bytes": 5 * MIB,
                                  "inbox": "support@acme.test"}
    options.update(kwargs)
    result = parse_email(raw, **options)  # type: ignore[arg-type]
    assert result.statuses == []
    assert len(result.messages) == 1
    return result.messages[0]


def build(headers: str, body: str | bytes = "Hello\r\n") -> bytes:
    head = (headers.strip().replace("\n", "\r\n") + "\r\n\r\n").encode("utf-8")
    return head + (body if isinstance(body, bytes) else body.encode("utf-8"))


def test_gmail_reply_with_encoded_subject_and_reference_chain() -> None:
    message = parse_one(fixture("gmail_reply.eml"))
    assert message.external_id == "CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com"
    assert message.sender == [Address(kind="email", value="renee.dupre@gmail.com")]
    assert message.sender_name == "Renée Dupré"
    assert message.subject == "Re: Commande n° 4821 — livraison retardée"
    assert message.text.startswith("Bonjour,\n\nLe colis n\u2019est toujours pas arrivé")
    assert message.html is not None and "gmail_quote" in message.html
    # In-Reply-To first, then References newest first, without duplicates.
    assert message.thread_refs == [
        "6a0c2e5d-93f1-4b7e-8c42-0d9e1f5a7b33@acme.test",
        "CAJ+8x7Fq2k=Zp8Lw@mail.gmail.com",
        "b41c0f7e-2b6d-4a57-9d1e-1c2a0e8f3d10@acme.test",
    ]
    assert message.reply_token == "Tk3x9QaZ_2mB"  # case kept: tokens are case-sensitive
    assert message.sent_at == datetime(2024, 5, 15, 8, 21, 7, tzinfo=UTC)
    assert message.attachments == []
    assert message.auto_reply is False


def test_outlook_reply_with_windows_1252_body_and_rfc2231_attachment() -> None:
    message = parse_one(fixture("outlook_reply.eml"))
    assert message.external_id.startswith("AM0PR07MB6211C4F2E4D18B0C1A9E3B7FC2EC2@")
    assert message.sender[0].value == "m.kowalski@globex.example"
    assert message.subject == "RE: Invoice INV-2024-0117"
    assert "Corrected copy attached \u2013 please reissue." in message.text
    assert message.thread_refs[0] == "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6@acme.test"
    assert message.thread_refs[-1] == "b41c0f7e-2b6d-4a57-9d1e-1c2a0e8f3d10@acme.test"
    [attachment] = message.attachments
    assert attachment.filename == "Rechnung Korrektur Übersicht.pdf"
    assert attachment.content_type == "application/pdf"
    assert attachment.data.startswith(b"%PDF-1.4")
    assert message.metadata["cc"] == ["ap@globex.example"]
    # Outlook puts X-Auto-Response-Suppress on ordinary mail: not an auto-reply.
    assert message.auto_reply is False
    assert message.reply_token is None


def test_html_only_mail_gets_a_text_fallback_and_safe_attachment_names() -> None:
    message = parse_one(fixture("html_only_inline_image.eml"))
    assert message.text == "The checkout page shows this:\n\nThanks,\nLi"
    assert message.html is not None and "<script>" in message.html  # raw: sanitised later
    [image] = message.attachments
    # Path and right-to-left override gone: the name cannot pose as another file type.
    assert image.filename == "passwdgnp.exe"
    assert image.content_type == "image/png"
    assert image.data.startswith(b"\x89PNG")
    assert message.metadata["content_ids"] == {"shot1@example.org": "passwdgnp.exe"}
    assert message.sent_at == datetime(2024, 5, 16, 6, 5, tzinfo=UTC)


def test_out_of_office_is_an_auto_reply() -> None:
    message = parse_one(fixture("out_of_office.eml"))
    assert message.auto_reply is True
    assert "Kiireellisissä asioissa" in message.text  # iso-8859-1, quoted-printable


@pytest.mark.parametrize("header", [
    "Auto-Submitted: auto-replied",
    "Auto-Submitted: auto-generated; owner-email=\"x@example.com\"",
    "X-Autoreply: yes",
    "X-Autorespond: Vacation",
    "Precedence: bulk",
    "Precedence: auto_reply",
    "Precedence: junk",
    "Subject: Out of Office: back on Monday",
    "Subject: Automatic reply: Re: your ticket",
])
def test_auto_reply_signals(header: str) -> None:
    raw = build(f"From: a@example.com\nTo: support@acme.test\nMessage-ID: <1@x>\n{header}")
    assert parse_one(raw).auto_reply is True


@pytest.mark.parametrize("header", [
    "Auto-Submitted: no",
    "X-Auto-Response-Suppress: All",
    "Precedence: list",
    "Subject: Re: out of office hours support?",
])
def test_not_auto_replies(header: str) -> None:
    raw = build(f"From: a@example.com\nTo: support@acme.test\nMessage-ID: <1@x>\n{header}")
    assert parse_one(raw).auto_reply is False


def test_missing_message_id_is_derived_from_the_bytes() -> None:
    raw = build("From: a@example.com\nTo: support@acme.test\nSubject: hi")
    first, again = parse_one(raw), parse_one(raw)
    assert first.external_id == again.external_id
    assert first.external_id.endswith("@cxprism.invalid")
    assert first.metadata["synthetic_message_id"] is True
    other = parse_one(raw.replace(b"hi", b"ho"))
    assert other.external_id != first.external_id


def test_reply_token_rules() -> None:
    def token(to: str, **kwargs: object) -> str | None:
        raw = build(f"From: a@example.com\nTo: {to}\nMessage-ID: <1@x>")
        return parse_one(raw, **kwargs).reply_token

    assert token("support+AbCdEf12@acme.test") == "AbCdEf12"
    assert token("Support+AbCdEf12@ACME.test") == "AbCdEf12"
    assert token("support+short@acme.test") is None  # under 8 characters
    assert token("support+bad.token!@acme.test") is None
    assert token("support+" + "a" * 65 + "@acme.test") is None
    # Someone else's plus-address is not our token...
    assert token("friend+AbCdEf12@elsewhere.test") is None
    # ...unless no inbox is known to tell them apart.
    assert token("friend+AbCdEf12@elsewhere.test", inbox=None) == "AbCdEf12"
    # The envelope (Bcc included) is believed first.
    raw = build("From: a@example.com\nTo: support@acme.test\nMessage-ID: <1@x>")
    message = parse_one(raw, recipients=["support+Envelope_1@acme.test"])
    assert message.reply_token == "Envelope_1"


def test_cc_and_delivered_to_carry_tokens_too() -> None:
    raw = build("From: a@example.com\nTo: boss@example.com\nCc: support+CcToken99@acme.test\n"
                "Message-ID: <1@x>")
    assert parse_one(raw).reply_token == "CcToken99"
    raw = build("Delivered-To: support+Dlv-Token@acme.test\nFrom: a@example.com\n"
                "To: list@example.com\nMessage-ID: <1@x>")
    assert parse_one(raw).reply_token == "Dlv-Token"


@pytest.mark.parametrize(("date", "expected"), [
    ("Wed, 15 May 2024 10:21:07 +0200", datetime(2024, 5, 15, 8, 21, 7, tzinfo=UTC)),
    ("15 May 2024 10:21:07 -0000", datetime(2024, 5, 15, 10, 21, 7, tzinfo=UTC)),
    ("Wed, 15 May 2024 10:21:07 GMT", datetime(2024, 5, 15, 10, 21, 7, tzinfo=UTC)),
    ("yesterday at noon", None),
    ("Wed, 15 May 99999 10:21:07 +0000", None),
    ("", None),
])
def test_dates_become_aware_utc_or_none(date: str, expected: datetime | None) -> None:
    raw = build(f"From: a@example.com\nTo: support@acme.test\nMessage-ID: <1@x>\nDate: {date}")
    assert parse_one(raw).sent_at == expected


def test_hostile_headers_are_reduced_to_one_clean_line() -> None:
    raw = build("From: \"Eve\x07 \" <EVE@Example.COM>\nTo: support@acme.test\n"
                "Message-ID: <a b@x>\nSubject: =?utf-8?q?hello=0D=0ABcc=3A_x=00?=\n"
                "In-Reply-To: <ok@x> garbage <also ok@x>\n"
                "References: <" + "r" * 300 + "@x> <fine@x>")
    message = parse_one(raw)
    assert message.sender[0].value == "eve@example.com"
    assert message.sender_name == "Eve"
    assert message.subject == "hello Bcc: x"
    assert "\r" not in (message.subject or "") and "\x00" not in (message.subject or "")
    # An id with a space is no id: one is derived rather than half of it trusted.
    assert message.external_id.endswith("@cxprism.invalid")
    assert message.thread_refs == ["ok@x", "fine@x"]


def test_thread_refs_skip_own_id_and_are_capped() -> None:
    refs = " ".join(f"<r{i}@x>" for i in range(80))
    raw = build(f"From: a@example.com\nTo: support@acme.test\nMessage-ID: <r79@x>\n"
                f"References: {refs}")
    message = parse_one(raw)
    assert message.thread_refs[0] == "r78@x"
    assert "r79@x" not in message.thread_refs
    assert len(message.thread_refs) == 50


def test_no_usable_sender_is_malformed() -> None:
    with pytest.raises(MalformedEmail, match="From"):
        parse_one(build("From: undisclosed-recipients:;\nTo: support@acme.test"))
    with pytest.raises(MalformedEmail):
        parse_one(build("To: support@acme.test\nSubject: who am I"))


def _with_attachment(name: str, size: int, count: int = 1) -> bytes:
    import base64
    data = base64.encodebytes(b"x" * size).decode("ascii").replace("\n", "\r\n")
    parts = "".join(
        f"--b\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename=\"{name}{i}.bin\"\r\n"
        f"Content-Transfer-Encoding: base64\r\n\r\n{data}" for i in range(count))
    return build("From: a@example.com\nTo: support@acme.test\nMessage-ID: <1@x>\n"
                 "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b",
                 f"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n{parts}--b--\r\n")


def test_attachment_over_the_limit_is_refused_by_name() -> None:
    with pytest.raises(AttachmentTooLarge, match=r"'huge0.bin' is 2001 bytes.*2000 bytes"):
        parse_one(_with_attachment("huge", 2001), max_attachment_bytes=2000)
    message = parse_one(_with_attachment("fits", 2000), max_attachment_bytes=2000)
    assert message.text == "see attached"
    assert [len(a.data) for a in message.attachments] == [2000]


def test_attachments_over_the_total_are_refused() -> None:
    raw = _with_attachment("many", 1000, count=3)
    with pytest.raises(AttachmentTooLarge, match="2500 bytes in total"):
        parse_one(raw, max_attachment_bytes=2000, max_total_bytes=2500)
    assert AttachmentTooLarge("x").smtp_reply().startswith("552 5.3.4 ")


def test_forwarded_email_is_one_attachment() -> None:
    inner = ("From: b@example.com\r\nTo: a@example.com\r\nSubject: original\r\n"
             "Message-ID: <inner@x>\r\n\r\nThe original text.\r\n")
    raw = build("From: a@example.com\nTo: support@acme.test\nMessage-ID: <outer@x>\n"
                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b",
                f"--b\r\nContent-Type: text/plain\r\n\r\nFYI\r\n--b\r\n"
                f"Content-Type: message/rfc822\r\n\r\n{inner}--b--\r\n")
    message = parse_one(raw)
    assert message.text == "FYI"
    [forwarded] = message.attachments
    assert forwarded.content_type == "message/rfc822"
    assert forwarded.filename.endswith(".eml")
    assert b"The original text." in forwarded.data and b"Message-ID: <inner@x>" in forwarded.data
    assert message.thread_refs == []  # the forwarded mail's ids are not this one's thread


def test_unknown_charset_and_nul_bytes_do_not_break_the_body() -> None:
    raw = build("From: a@example.com\nTo: support@acme.test\nMessage-ID: <1@x>\n"
                "Content-Type: text/plain; charset=x-no-such-charset",
                b"caf\xc3\xa9 \x00 ok\r\n")
    message = parse_one(raw)
    assert "\x00" not in message.text
    assert message.text.endswith("ok\n")


def test_absurdly_nested_parts_are_malformed_not_a_crash() -> None:
    depth = 3000
    opening = b"".join(b"--b%d\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n"
                       % (i - 1, i) for i in range(1, depth))
    closing = b"".join(b"--b%d--\r\n" % i for i in range(depth - 1, -1, -1))
    raw = build("From: a@example.com\nTo: support@acme.test\nMessage-ID: <n@x>\n"
                "MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=b0",
                opening + b"--b%d\r\nContent-Type: text/plain\r\n\r\ndeep\r\n" % (depth - 1)
                + closing)
    with pytest.raises(MalformedEmail, match="nested"):
        parse_one(raw)
