"""What the SSRF tests share: a listener that counts connections, and production's allowlist.

The listener answers nothing useful on purpose: a test using it expects zero connections,
and a connection that did arrive (plain HTTP or the start of a TLS handshake) is counted
before anything is read, so a guard that let it through fails the test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from cxprism.config import get_settings
from tests.channels.social.helpers import INBOUND_SECRET, REPLY_SECRET
from tests.fixtures.fake_meta import FakeMeta
from tests.fixtures.fake_twilio import (
    FAKE_ACCOUNT_SID,
    FAKE_AUTH_TOKEN,
    FAKE_PHONE_NUMBER,
    FAKE_WHATSAPP_NUMBER,
)

SETTLE = 0.05  # lets a connection that did get through reach the counter

# URLs no channel may point cxprism at, and a word of the reason each is refused for.
UNSAFE_URLS = [
    ("http://169.254.169.254/", "link-local"),
    ("http://10.0.0.1/", "private"),
    ("http://[::1]/", "loopback"),
    ("http://[::ffff:127.0.0.1]/", "IPv4-mapped form of 127.0.0.1"),
    ("http://2130706433/", "(127.0.0.1) is a loopback"),
]

# Every configuration field holding a URL, by channel kind.
URL_FIELDS = [("twilio_sms", "api_base"), ("twilio_sms", "status_callback_url"),
              ("twilio_whatsapp", "api_base"), ("whatsapp_cloud", "graph_base"),
              ("social", "reply_url")]
_VALID: dict[str, dict[str, Any]] = {
    "twilio_sms": {"account_sid": FAKE_ACCOUNT_SID, "auth_token": FAKE_AUTH_TOKEN,
                   "phone_number": FAKE_PHONE_NUMBER},
    "twilio_whatsapp": {"account_sid": FAKE_ACCOUNT_SID, "auth_token": FAKE_AUTH_TOKEN,
                        "whatsapp_number": FAKE_WHATSAPP_NUMBER},
    "whatsapp_cloud": FakeMeta().config(graph_base="https://graph.facebook.com"),
    "social": {"network": "twitter", "account": "acme", "inbound_secret": INBOUND_SECRET,
               "reply_url": "https://bridge.example.com/replies",
               "reply_secret": REPLY_SECRET},
}


def config_with(kind: str, **fields: str) -> dict[str, Any]:
    """A valid configuration of ``kind`` (public URLs that are never called), changed."""
    return {**_VALID[kind], **fields}


@dataclass
class Listener:
    host: str
    port: int = 0
    connections: int = 0

    async def accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        writer.close()

    async def settled_connections(self) -> int:
        await asyncio.sleep(SETTLE)
        return self.connections


@asynccontextmanager
async def listening(host: str = "127.0.0.1") -> AsyncIterator[Listener]:
    """A listener on ``host`` (127.0.0.2 stands for a private host the allowlist lacks)."""
    listener = Listener(host)
    try:
        server = await asyncio.start_server(listener.accept, host, 0)
    except OSError as exc:
        pytest.skip(f"cannot listen on {host} here: {exc}")
    listener.port = server.sockets[0].getsockname()[1]
    async with server:
        yield listener


@pytest.fixture
def production_allowlist(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network let through, as in production (tests otherwise allow 127.0.0.1/32)."""
    monkeypatch.setattr(get_settings(), "outbound_http_allow", "")
