"""Replies sent to a real HTTPS bridge that checks their Standard Webhooks signature."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from cxprism.channels.protocol import Attachment, OutboundMessage, SendError
from cxprism.channels.social import SocialConfig, SocialConnector
from cxprism.channels.social.replies import MAX_RETRY_AFTER_SECONDS, retry_after_seconds
from tests.channels.social.helpers import INBOUND_SECRET, OTHER_SECRET, REPLY_SECRET
from tests.channels.social.receiver import Bridge, Scripted, running_bridge

connector = SocialConnector()


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    async with running_bridge(tmp_path, REPLY_SECRET) as running:
        yield running


@pytest.fixture
async def http(bridge: Bridge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(verify=bridge.client_context(), timeout=5.0) as client:
        yield client


def config_for(url: str | None, secret: str = REPLY_SECRET) -> SocialConfig:
    return SocialConfig(network="twitter", account="acme", inbound_secret=INBOUND_SECRET,
                        reply_url=url, reply_secret=secret if url else None)


def reply(**changes: object) -> OutboundMessage:
    message = OutboundMessage(to="jane_doe", text="Sorry! We're on it — DM us your order.",
                              in_reply_to="twitter:1790001", idempotency_key="reply-7")
    for name, value in changes.items():
        setattr(message, name, value)
    return message


async def test_a_reply_is_signed_and_its_network_id_returned(
        bridge: Bridge, http: httpx.AsyncClient) -> None:
    bridge.script.append(Scripted(200, b'{"id": "1790999"}', {"content-type": "application/json"}))
    result = await connector.send(config_for(bridge.url), reply(), http)
    assert result.external_id == "twitter:1790999"
    [(headers, body)] = bridge.received
    assert headers["webhook-id"] == "reply-7"
    assert headers["content-type"] == "application/json"
    assert body == {"network": "twitter", "account": "acme", "in_reply_to": "1790001",
                    "to": "jane_doe", "text": "Sorry! We're on it — DM us your order.",
                    "public": True, "idempotency_key": "reply-7", "attachments": []}


async def test_without_a_returned_id_the_webhook_id_names_the_reply(
        bridge: Bridge, http: httpx.AsyncClient) -> None:
    bridge.script.append(Scripted(202, b"accepted"))
    result = await connector.send(config_for(bridge.url), reply(), http)
    assert result.external_id == "twitter:reply:reply-7"
    assert result.details == {"webhook_id": "reply-7", "status_code": 202}


@pytest.mark.parametrize("answer", [b'{"id": ""}', b'{"id": true}', b'{"id": {"a": 1}}',
                                    b'{"id": "bad\\u0000id"}', b"[]", b"\xff"])
async def test_an_unusable_returned_id_is_ignored(
        bridge: Bridge, http: httpx.AsyncClient, answer: bytes) -> None:
    bridge.script.append(Scripted(200, answer))
    result = await connector.send(config_for(bridge.url), reply(), http)
    assert result.external_id == "twitter:reply:reply-7"


async def test_a_private_reply_without_a_parent_and_with_linked_media(
        bridge: Bridge, http: httpx.AsyncClient) -> None:
    media = Attachment("a.png", "image/png", url="https://cdn.example.com/a.png")
    bridge.script.append(Scripted(200, b'{"id": 55}'))
    message = reply(in_reply_to=None, metadata={"public": False}, attachments=[media])
    result = await connector.send(config_for(bridge.url), message, http)
    assert result.external_id == "twitter:55"
    body = bridge.received[0][1]
    assert body["in_reply_to"] is None
    assert body["public"] is False
    assert body["attachments"] == [{"url": "https://cdn.example.com/a.png",
                                    "content_type": "image/png", "filename": "a.png"}]


async def test_the_same_idempotency_key_keeps_the_same_webhook_id(
        bridge: Bridge, http: httpx.AsyncClient) -> None:
    bridge.script.extend([Scripted(503), Scripted(200)])
    with pytest.raises(SendError):
        await connector.send(config_for(bridge.url), reply(), http)
    await connector.send(config_for(bridge.url), reply(), http)
    first, second = (headers["webhook-id"] for headers, _ in bridge.received)
    assert first == second == "reply-7"


async def test_without_an_idempotency_key_each_send_gets_a_new_id(
        bridge: Bridge, http: httpx.AsyncClient) -> None:
    for _ in range(2):
        await connector.send(config_for(bridge.url), reply(idempotency_key=None), http)
    first, second = (headers["webhook-id"] for headers, _ in bridge.received)
    assert first != second


async def test_429_is_transient_and_retry_after_is_honoured(
        bridge: Bridge, http: httpx.AsyncClient) -> None:
    bridge.script.append(Scripted(429, b"slow down", {"retry-after": "120"}))
    with pytest.raises(SendError) as caught:
        await connector.send(config_for(bridge.url), reply(), http)
    assert caught.value.transient is True
    assert caught.value.retry_after == 120.0
    assert caught.value.code == "http_429"


async def test_5xx_is_transient(bridge: Bridge, http: httpx.AsyncClient) -> None:
    bridge.script.append(Scripted(502, b"bad gateway"))
    with pytest.raises(SendError) as caught:
        await connector.send(config_for(bridge.url), reply(), http)
    assert caught.value.transient is True
    assert caught.value.retry_after is None


async def test_400_is_permanent_and_says_why(bridge: Bridge, http: httpx.AsyncClient) -> None:
    bridge.script.append(Scripted(400, b'{"error": "tweet too long"}'))
    with pytest.raises(SendError, match=r"HTTP 400.*tweet too long") as caught:
        await connector.send(config_for(bridge.url), reply(), http)
    assert caught.value.transient is False


async def test_a_wrong_reply_secret_is_refused_by_the_bridge(
        bridge: Bridge, http: httpx.AsyncClient) -> None:
    with pytest.raises(SendError, match="HTTP 401") as caught:
        await connector.send(config_for(bridge.url, OTHER_SECRET), reply(), http)
    assert caught.value.transient is False
    assert bridge.received == []


async def test_a_timeout_is_transient(bridge: Bridge) -> None:
    bridge.script.append(Scripted(200, delay=1.0))
    async with httpx.AsyncClient(verify=bridge.client_context(), timeout=0.2) as client:
        with pytest.raises(SendError) as caught:
            await connector.send(config_for(bridge.url), reply(), client)
    assert caught.value.transient is True
    assert caught.value.code == "timeout"


async def test_a_refused_connection_is_transient() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with httpx.AsyncClient(timeout=5.0) as client:
        with pytest.raises(SendError) as caught:
            await connector.send(config_for(f"https://127.0.0.1:{port}/r"), reply(), client)
    assert caught.value.transient is True
    assert caught.value.code == "unreachable"


async def test_no_reply_url_is_a_permanent_error() -> None:
    async with httpx.AsyncClient() as client:
        with pytest.raises(SendError, match="no reply URL configured") as caught:
            await connector.send(config_for(None), reply(), client)
    assert caught.value.transient is False


async def test_attachments_without_a_link_cannot_be_sent() -> None:
    message = reply(attachments=[Attachment("a.png", "image/png", data=b"\x89PNG")])
    async with httpx.AsyncClient() as client:
        with pytest.raises(SendError, match="by URL") as caught:
            await connector.send(config_for("https://bridge.example.com/r"), message, client)
    assert caught.value.transient is False


def test_the_in_reply_to_prefix_of_another_network_is_kept() -> None:
    from cxprism.channels.social.replies import reply_body

    body = json.loads(reply_body(config_for("https://b.example.com/r"),
                                 reply(in_reply_to="facebook:9")))
    assert body["in_reply_to"] == "facebook:9"


NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("value", "seconds"), [
    (None, None), ("", None), ("  ", None), ("30", 30.0), (" 7 ", 7.0), ("1.5", 1.5),
    ("-5", None), ("soon", None), ("\u0661\u0662", None),
    (format_datetime(NOW + timedelta(minutes=2), usegmt=True), 120.0),
    (format_datetime(NOW - timedelta(minutes=2), usegmt=True), 0.0),
    ("999999999", MAX_RETRY_AFTER_SECONDS),
])
def test_retry_after_parsing(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, NOW) == seconds
