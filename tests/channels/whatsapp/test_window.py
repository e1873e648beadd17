from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cxprism.channels.whatsapp.window import (
    WINDOW,
    WindowClosed,
    check_whatsapp_send,
    whatsapp_window_open,
)

NOW = datetime(2024, 6, 18, 12, 0, tzinfo=UTC)
moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                       timezones=st.just(UTC))


@given(last=moments, now=moments)
def test_open_iff_less_than_24_hours_since_the_last_inbound(last: datetime,
                                                            now: datetime) -> None:
    assert whatsapp_window_open(last, now) == (now - last < timedelta(hours=24))


@given(last=moments, now=moments, template=st.booleans())
def test_a_send_is_refused_only_when_closed_and_not_a_template(
        last: datetime, now: datetime, template: bool) -> None:
    try:
        check_whatsapp_send(last, now, template)
    except WindowClosed:
        assert not template and not whatsapp_window_open(last, now)
    else:
        assert template or whatsapp_window_open(last, now)


def test_edges() -> None:
    assert whatsapp_window_open(NOW - WINDOW + timedelta(microseconds=1), NOW)
    assert not whatsapp_window_open(NOW - WINDOW, NOW)
    assert not whatsapp_window_open(None, NOW)


def test_messages_say_why_and_what_to_do() -> None:
    with pytest.raises(WindowClosed) as caught:
        check_whatsapp_send(NOW - timedelta(hours=30), NOW, has_template=False)
    assert str(caught.value) == ("the 24-hour customer-service window closed at "
                                 "2024-06-18T06:00+00:00; only an approved template may be "
                                 "sent")
    assert isinstance(caught.value, ValueError)
    with pytest.raises(WindowClosed, match="has not written"):
        check_whatsapp_send(None, NOW, has_template=False)
    check_whatsapp_send(None, NOW, has_template=True)
    check_whatsapp_send(NOW - timedelta(hours=1), NOW, has_template=False)
