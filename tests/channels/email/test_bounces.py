"""Bounces become status updates for the message we sent; delays and noise become nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cxprism.channels.email import parse_email
from cxprism.channels.protocol import DeliveryStatus, StatusUpdate, WebhookResult

FIXTURES = Path(__file__).parent / "fixtures"


def parse(raw: bytes) -> WebhookResult:
    return parse_email(raw, max_attachment_bytes=1024 * 1024, max_total_bytes=4 * 1024 * 1024,
                       inbox="support@acme.test")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_rfc3464_permanent_failure_is_a_bounce_of_the_original() -> None:
    result = parse(fixture("dsn_failed.eml"))
    assert result.messages == []
    assert result.statuses == [StatusUpdate(
        external_id="0b6f1c9e-1111-4c1e-9a7e-3f0d2c8e5a77@acme.test",
        status=DeliveryStatus.BOUNCED,
        reason="5.1.1 smtp; 550 5.1.1 <nobody@example.net>: Recipient address rejected: "
               "User unknown in virtual mailbox table",
        at=datetime(2024, 5, 14, 9, 12, 3, tzinfo=UTC),
    )]


def test_delayed_dsn_changes_nothing() -> None:
    result = parse(fixture("dsn_delayed.eml"))
    assert result.messages == [] and result.statuses == []


def test_expired_queue_is_a_failure_not_a_bounce() -> None:
    raw = fixture("dsn_delayed.eml").replace(b"Action: delayed", b"Action: failed")
    [update] = parse(raw).statuses
    assert update.external_id == "7e4f0a51-1c0d-4a43-b0de-2f6a9c1e8d55@acme.test"
    assert update.status is DeliveryStatus.FAILED
    assert update.reason is not None and update.reason.startswith("4.7.1 ")


def test_dsn_with_the_whole_original_attached() -> None:
    raw = fixture("dsn_failed.eml").replace(
        b"Content-Type: text/rfc822-headers", b"Content-Type: message/rfc822")
    [update] = parse(raw).statuses
    assert update.external_id == "0b6f1c9e-1111-4c1e-9a7e-3f0d2c8e5a77@acme.test"
    assert update.status is DeliveryStatus.BOUNCED


def test_utf8_delivery_report_rfc6533() -> None:
    raw = fixture("dsn_failed.eml").replace(
        b"Content-Type: message/delivery-status", b"Content-Type: message/global-delivery-status")
    [update] = parse(raw).statuses
    assert update.status is DeliveryStatus.BOUNCED
    assert update.reason is not None and update.reason.startswith("5.1.1 smtp; 550")


def test_dsn_without_the_original_is_dropped_not_turned_into_a_conversation() -> None:
    raw = fixture("dsn_failed.eml").replace(b"Message-ID: <0b6f1c9e", b"X-Gone: <0b6f1c9e")
    result = parse(raw)
    assert result.messages == [] and result.statuses == []


def test_mailer_daemon_with_attached_original_is_a_bounce() -> None:
    [update] = parse(fixture("mailer_daemon_attached.eml")).statuses
    assert update.external_id == "2f9c7a10-6b3e-4d1f-8a2c-9e0b1d2c3f4a@acme.test"
    assert update.status is DeliveryStatus.BOUNCED
    assert update.reason == "5.1.1 Delivery Status Notification (Failure)"


def test_qmail_bounce_quoting_the_original_inline() -> None:
    [update] = parse(fixture("qmail_bounce.eml")).statuses
    assert update.external_id == "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d@acme.test"
    assert update.status is DeliveryStatus.BOUNCED


def test_mailer_daemon_delay_warning_is_not_a_bounce() -> None:
    raw = (fixture("mailer_daemon_attached.eml")
           .replace(b"(Failure)", b"(Delay)")
           .replace(b"550 5.1.1", b"451 4.4.1"))
    assert parse(raw).statuses == []


def test_a_person_called_postmaster_without_an_original_is_a_message() -> None:
    raw = (b"From: postmaster@small.example\r\nTo: support@acme.test\r\n"
           b"Message-ID: <pm@small.example>\r\nSubject: Question about my order\r\n\r\n"
           b"Where is it?\r\n")
    result = parse(raw)
    assert result.statuses == []
    assert [m.text for m in result.messages] == ["Where is it?\n"]
