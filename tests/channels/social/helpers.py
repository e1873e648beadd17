"""Requests signed the way a bridge signs them: with the standardwebhooks library."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

from cxprism.channels.protocol import WebhookRequest

INBOUND_SECRET = "whsec_" + base64.b64encode(b"inbound-secret-of-32-bytes-long!").decode()
REPLY_SECRET = "whsec_" + base64.b64encode(b"reply-secret-for-tests-32-bytes!").decode()
OTHER_SECRET = "whsec_" + base64.b64encode(b"someone-else's-secret-32-bytes!!").decode()


def signed_request(body: bytes | str | dict[str, Any], secret: str = INBOUND_SECRET, *,
                   msg_id: str = "msg_test_1", at: datetime | None = None) -> WebhookRequest:
    """A POST as the route hands it to the connector, signed with ``secret`` at ``at``."""
    if isinstance(body, dict):
        body = json.dumps(body)
    raw = body.encode() if isinstance(body, str) else body
    when = at or datetime.now(UTC)
    headers = {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
    }
    # The library signs text; a body that is not UTF-8 gets a made-up signature instead.
    try:
        headers["webhook-signature"] = Webhook(secret).sign(msg_id, when, raw.decode())
    except UnicodeDecodeError:
        headers["webhook-signature"] = "v1," + base64.b64encode(b"x" * 32).decode()
    return WebhookRequest(method="POST", url="https://cx.example.com/hooks/x/1",
                          headers=headers, body=raw)


def minutes_ago(minutes: float) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)
