"""Outbound email: threaded, replyable by token, and impossible to smuggle headers into."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from cxprism.channels.email import (
    EmailConfig,
    HeaderInjection,
    InvalidAddress,
    InvalidMessage,
    compose_email,
    parse_email,
)
from cxprism.channels.protocol import Attachment, OutboundMessage

CONFIG = EmailConfig(address="Support@Acme.test", from_name="Acme Support",
                     smtp_host="smtp.acme.test")
NOW = datetime(2024, 5, 15, 9, 0, tzinfo=UTC)


def reparse(raw: bytes) -> EmailMessage:
    return BytesParser(policy=default).parsebytes(raw)


def compose(message: OutboundMessage, config: EmailConfig = CONFIG) -> EmailMessage:
    msg, _ = compose_email(config, message, message_id_domain="acme.test", now=NOW)
    return reparse(bytes(msg))


def test_reply_is_threaded_and_carries_the_token() -> None:
    msg, message_id = compose_email(CONFIG, OutboundMessage(
        to="Renee.Dupre@gmail.com", text="Votre colis arrive demain.",
        html="<p>Votre colis arrive <b>demain</b>.</p>",
        subject="Commande n° 4821", in_reply_to="<CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com>",
        references=["root@acme.test", "CAJ+8x7Fq2k=Zp8Lw@mail.gmail.com"],
        metadata={"reply_token": "Tk3x9QaZ_2mB"}), message_id_domain="acme.test", now=NOW)
    assert message_id.endswith("@acme.test")
    parsed = reparse(bytes(msg))
    assert parsed["Message-ID"] == f"<{message_id}>"
    assert str(parsed["From"]) == "Acme Support <support@acme.test>"
    assert str(parsed["To"]) == "renee.dupre@gmail.com"
    assert str(parsed["Subject"]) == "Re: Commande n° 4821"
    assert parsed["In-Reply-To"] == "<CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com>"
    assert parsed["References"] == ("<root@acme.test> <CAJ+8x7Fq2k=Zp8Lw@mail.gmail.com> "
                                    "<CAJ+8x7GmN1p=Qr4uZ0v@mail.gmail.com>")
    assert str(parsed["Reply-To"]) == "Acme Support <support+Tk3x9QaZ_2mB@acme.test>"
    assert parsed["Date"] == "Wed, 15 May 2024 09:00:00 +0000"
    plain, html = parsed.get_body(("plain",)), parsed.get_body(("html",))
    assert plain is not None and plain.get_content() == "Votre colis arrive demain.\n"
    assert html is not None and "<b>demain</b>" in html.get_content()
    # Seven-bit transfer encodings only: any relay takes it without 8BITMIME.
    assert max(bytes(msg)) < 128


def test_re_prefix_is_not_doubled_and_new_messages_have_none() -> None:
    replied = compose(OutboundMessage(to="a@example.com", text="x", subject="RE: Invoice",
                                      in_reply_to="p@x"))
    assert replied["Subject"] == "RE: Invoice"
    fresh = compose(OutboundMessage(to="a@example.com", text="x", subject="Invoice"))
    assert fresh["Subject"] == "Invoice"
    assert fresh["In-Reply-To"] is None and fresh["References"] is None
    assert fresh["Reply-To"] is None


def test_message_id_is_stable_for_an_idempotency_key() -> None:
    message = OutboundMessage(to="a@example.com", text="x", idempotency_key="send:42")
    _, first = compose_email(CONFIG, message, message_id_domain="acme.test")
    _, again = compose_email(CONFIG, message, message_id_domain="acme.test")
    _, other = compose_email(CONFIG, OutboundMessage(to="a@example.com", text="x"),
                             message_id_domain="acme.test")
    assert first == again != other


def test_long_reference_chains_keep_the_root_and_the_latest() -> None:
    refs = [f"r{i}@x" for i in range(40)]
    parsed = compose(OutboundMessage(to="a@example.com", text="x", references=refs,
                                     in_reply_to="r39@x"))
    kept = str(parsed["References"]).split()
    assert len(kept) == 20
    assert kept[0] == "<r0@x>" and kept[-1] == "<r39@x>"


def test_attachments_are_attached_with_safe_names() -> None:
    parsed = compose(OutboundMessage(to="a@example.com", text="see attached", attachments=[
        Attachment(filename="../../Rapport\r\nBcc: x.pdf", content_type="application/pdf",
                   data=b"%PDF-1.4 data"),
        Attachment(filename="notes.txt", content_type="text/plain; evil\r\nX: y", data=b"hi"),
    ]))
    files = list(parsed.iter_attachments())
    assert [f.get_filename() for f in files] == ["Rapport Bcc: x.pdf", "notes.txt"]
    assert files[0].get_content() == b"%PDF-1.4 data"
    assert files[1].get_content_type() == "application/octet-stream"
    assert parsed["Bcc"] is None and parsed["X"] is None


def test_an_attachment_without_bytes_is_refused() -> None:
    with pytest.raises(InvalidMessage, match="no data"):
        compose(OutboundMessage(to="a@example.com", text="x", attachments=[
            Attachment(filename="a.png", content_type="image/png", url="https://x/a.png")]))


@pytest.mark.parametrize(("field", "message"), [
    ("subject", OutboundMessage(to="a@example.com", text="x", subject="Hi\r\nBcc: e@evil.test")),
    ("subject", OutboundMessage(to="a@example.com", text="x", subject="Hi\nBcc: e@evil.test")),
    ("subject", OutboundMessage(to="a@example.com", text="x", subject="Hi\rBcc: e@evil.test")),
    ("subject", OutboundMessage(to="a@example.com", text="x", subject="Hi\x00")),
    ("subject", OutboundMessage(to="a@example.com", text="x", subject="Hi\u2028Bcc: e")),
    ("to", OutboundMessage(to="a@example.com\r\nBcc: e@evil.test", text="x")),
    ("to", OutboundMessage(to="a@example.com\nX: y", text="x")),
    ("in_reply_to", OutboundMessage(to="a@example.com", text="x", in_reply_to="a@x\r\nBcc: e")),
    ("references", OutboundMessage(to="a@example.com", text="x", references=["a@x\nBcc: e"])),
    ("reply_token", OutboundMessage(to="a@example.com", text="x",
                                    metadata={"reply_token": "Tok3n123\r\nBcc: e@evil.test"})),
])
def test_header_injection_is_refused(field: str, message: OutboundMessage) -> None:
    with pytest.raises(HeaderInjection, match=field):
        compose(message)


def test_header_injection_through_the_from_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="control characters"):
        EmailConfig(address="support@acme.test", from_name="Acme\r\nBcc: e@evil.test",
                    smtp_host="smtp.acme.test")
    # Even a configuration built around validation cannot inject.
    config = CONFIG.model_copy(update={"from_name": "Acme\r\nBcc: e@evil.test"})
    with pytest.raises(HeaderInjection, match="from_name"):
        compose(OutboundMessage(to="a@example.com", text="x"), config)


@pytest.mark.parametrize("to", [
    "Eve <eve@evil.test>", "a@example.com, eve@evil.test", "a@example.com eve@evil.test",
    "\"a@example.com\" <eve@evil.test>", "eve@evil.test (a@example.com)", "a", "@example.com",
    "a@", "a@localhost", "a@@example.com", "a@exa mple.com", "a@-x.com", "\"q u\"@example.com",
    "group: a@example.com;", "a@example.com>", "<a@example.com>",
])
def test_recipient_must_be_one_bare_address(to: str) -> None:
    with pytest.raises(InvalidAddress):
        compose(OutboundMessage(to=to, text="x"))


def test_international_domains_are_sent_in_ascii_form() -> None:
    parsed = compose(OutboundMessage(to="kunde@bücher.example", text="x"))
    assert str(parsed["To"]) == "kunde@xn--bcher-kva.example"


@pytest.mark.parametrize("token", ["short", "has space1", "dots.not.ok", "x" * 65, 12345678])
def test_malformed_reply_tokens_are_refused(token: object) -> None:
    with pytest.raises(InvalidMessage, match="reply_token"):
        compose(OutboundMessage(to="a@example.com", text="x",
                                metadata={"reply_token": token}))


@pytest.mark.parametrize(("config", "error"), [
    ({"address": "support+x@acme.test"}, "must not contain"),
    ({"address": "Acme <support@acme.test>"}, "not an email address"),
    ({"max_attachment_bytes": 26 * 1024 * 1024}, "less than or equal"),
    ({"smtp_tls": "ssl"}, "starttls"),
    ({"smtp_port": 0}, "greater than or equal"),
    ({"unknown": 1}, "Extra inputs"),
])
def test_config_validation(config: dict[str, object], error: str) -> None:
    with pytest.raises(ValidationError, match=error):
        EmailConfig.model_validate({"address": "support@acme.test",
                                    "smtp_host": "smtp.acme.test"} | config)


def test_config_keeps_the_password_out_of_repr() -> None:
    config = CONFIG.model_copy(update={"smtp_password": "hunter2-secret"})
    assert "hunter2" not in repr(config)
    assert config.model_dump(mode="json")["smtp_password"] == "hunter2-secret"


_TEXT = st.text(st.characters(blacklist_categories=["Cs"]), max_size=300)
_LINE = st.text(st.characters(blacklist_categories=["Cs", "Cc", "Zl", "Zp"],
                              blacklist_characters="\x85"), min_size=1, max_size=120)
_ID = st.from_regex(r"[A-Za-z0-9.$_=+-]{1,30}@[a-z0-9]{1,10}\.test", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(subject=_LINE, text=_TEXT, parent=_ID, refs=st.lists(_ID, max_size=5),
       token=st.from_regex(r"[A-Za-z0-9_-]{8,40}", fullmatch=True))
def test_compose_then_parse_round_trip(subject: str, text: str, parent: str,
                                       refs: list[str], token: str) -> None:
    msg, message_id = compose_email(CONFIG, OutboundMessage(
        to="customer@example.com", text=text, subject=subject, in_reply_to=parent,
        references=refs, metadata={"reply_token": token}), message_id_domain="acme.test")
    [parsed] = parse_email(bytes(msg), max_attachment_bytes=1024, max_total_bytes=1024,
                           inbox=None).messages
    assert parsed.external_id == message_id
    expected_subject = " ".join(subject.split())
    if expected_subject and not subject.strip().lower().startswith("re:"):
        expected_subject = f"Re: {expected_subject}"
    assert parsed.subject == expected_subject or (parsed.subject is None and not
                                                  expected_subject)
    sent = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    assert parsed.text.rstrip("\n") == sent.rstrip("\n")  # NUL: no database stores it
    assert parsed.thread_refs[0] == parent
    assert set(parsed.thread_refs) == {parent, *refs}
    assert parsed.sender[0].value == "support@acme.test"


_INJECTION = st.tuples(st.text(max_size=20), st.sampled_from(["\r\n", "\n", "\r", "\x00",
                                                             "\x0b", "\x85", "\u2028"]),
                       st.text(max_size=20)).map("".join)


@settings(max_examples=150, deadline=None)
@given(value=_INJECTION, field=st.sampled_from(["subject", "to", "in_reply_to", "token"]))
def test_control_characters_never_produce_headers(value: str, field: str) -> None:
    base = {"to": "customer@example.com", "text": "x", "subject": "Hello"}
    kwargs: dict[str, object] = dict(base)
    if field == "token":
        kwargs["metadata"] = {"reply_token": value + "abcdefgh"}
    else:
        kwargs[field] = value + ("@x.test" if field in {"to", "in_reply_to"} else "")
    with pytest.raises(InvalidMessage):
        compose_email(CONFIG, OutboundMessage(**kwargs),  # type: ignore[arg-type]
                      message_id_domain="acme.test")
