"""Realistic behaviour trails for the demo workspace's sample customers.

Each customer browses anonymously (landing page, product pages, help-centre articles),
logs in (identify with both ids), and most go on to start a checkout; some finish it,
some abandon it and read a help article instead: the trails analytics later explains.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.clock import utcnow
from cxprism.tracking.ingest import write_rows
from cxprism.tracking.messages import Envelope, validate_batch
from cxprism.workspaces.auth import SourceCredential

PRODUCTS = [("TRAIL-42", "Trail runner 42", 129.0), ("RAIN-7", "Rain shell 7", 189.0),
            ("PACK-30", "Day pack 30L", 79.0), ("SOCK-3", "Merino socks (3)", 29.0)]
ARTICLES = ["Where is my order?", "Returns and refunds", "Sizing guide",
            "Payment was declined", "Change my delivery address"]
CONTEXT = {"library": {"name": "analytics.js", "version": "4.1.0"},
           "userAgent": "Mozilla/5.0 (demo)", "locale": "en-GB"}


@dataclass(frozen=True)
class Visitor:
    user_id: str
    anonymous_id: str


def trail(rng: random.Random, visitor: Visitor, start: datetime) -> list[dict[str, Any]]:
    """One visitor's session as the SDK would have sent it, a few seconds to minutes apart."""
    clock, calls = start, []

    def emit(message: dict[str, Any], logged_in: bool) -> None:
        nonlocal clock
        clock += timedelta(seconds=rng.randint(5, 240))
        calls.append({**message, "anonymousId": visitor.anonymous_id,
                      **({"userId": visitor.user_id} if logged_in else {}),
                      "messageId": f"demo-{uuid.UUID(int=rng.getrandbits(128))}",
                      "timestamp": clock.isoformat(), "context": CONTEXT})

    emit({"type": "page", "name": "Home", "properties": {"path": "/"}}, False)
    for sku, title, price in rng.sample(PRODUCTS, rng.randint(1, 3)):
        emit({"type": "page", "name": title, "properties": {"path": f"/p/{sku}"}}, False)
        emit({"type": "track", "event": "Product Viewed",
              "properties": {"sku": sku, "price": price}}, False)
    if rng.random() < 0.4:
        emit({"type": "page", "name": "Help centre",
              "properties": {"path": "/help", "article": rng.choice(ARTICLES)}}, False)
    emit({"type": "identify"}, True)
    if rng.random() < 0.7:
        sku, _, price = rng.choice(PRODUCTS)
        emit({"type": "track", "event": "Checkout Started",
              "properties": {"sku": sku, "value": price}}, True)
        if rng.random() < 0.6:
            emit({"type": "track", "event": "Order Completed",
                  "properties": {"sku": sku, "revenue": price, "currency": "EUR"}}, True)
        else:
            emit({"type": "page", "name": "Help centre", "properties": {
                "path": "/help", "article": "Payment was declined"}}, True)
    return calls


async def seed_trails(session: AsyncSession, credential: SourceCredential,
                      visitors: list[Visitor], rng: random.Random) -> int:
    """Store trails of the last fortnight for ``visitors`` (in the caller's transaction)."""
    now = utcnow()
    messages = [call for visitor in visitors for call in trail(
        rng, visitor, now - timedelta(days=rng.uniform(1, 14)))]
    rows, _ = validate_batch(messages, Envelope(now, correct_skew=False))
    await write_rows(session, credential, rows)
    return len(rows)
