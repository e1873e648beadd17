"""WhatsApp's 24-hour customer-service window, for every WhatsApp connector.

WhatsApp lets a business send free-form messages only within 24 hours of the customer's
last message to it; outside that window only a template Meta has approved may be sent,
and the provider refuses anything else (Meta error 131047, Twilio error 63016). Checking
before the send gives the agent a clear reason instead of a failed delivery. Pure: the
caller passes the customer's last inbound time and ``now`` (both timezone-aware).
"""

from __future__ import annotations

from datetime import datetime, timedelta

WINDOW = timedelta(hours=24)


class WindowClosed(ValueError):
    """A free-form WhatsApp message outside the customer-service window."""


def whatsapp_window_open(last_inbound_at: datetime | None, now: datetime) -> bool:
    """True while fewer than 24 hours have passed since the customer last wrote."""
    if last_inbound_at is None:
        return False
    return now - last_inbound_at < WINDOW


def check_whatsapp_send(last_inbound_at: datetime | None, now: datetime,
                        has_template: bool) -> None:
    """Raise :class:`WindowClosed` unless this send is allowed now."""
    if has_template or whatsapp_window_open(last_inbound_at, now):
        return
    if last_inbound_at is None:
        raise WindowClosed("the customer has not written to this WhatsApp number, so there is "
                           "no 24-hour customer-service window; only an approved template may "
                           "be sent")
    closed_at = last_inbound_at + WINDOW
    raise WindowClosed(f"the 24-hour customer-service window closed at "
                       f"{closed_at.isoformat(timespec='minutes')}; only an approved template "
                       f"may be sent")
