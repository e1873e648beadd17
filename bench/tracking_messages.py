"""Realistic analytics.js messages for the tracking benchmark: people, events, pages."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

POPULATION = 10_000

PRODUCTS = [("Trail Runner 2", "Shoes", 89.9), ("Merino Crew", "Tops", 59.0),
            ("Storm Shell", "Jackets", 179.0), ("Daypack 22", "Bags", 74.5),
            ("Wool Beanie", "Accessories", 19.9), ("Hiking Sock 3-pack", "Socks", 24.0)]
ARTICLES = ["how-to-return-an-order", "delivery-times", "size-guide", "reset-your-password",
            "track-my-parcel", "payment-options"]
AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, "
    "like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"]
REFERRERS = ["https://www.google.com/", "https://duckduckgo.com/", "", "https://t.co/x7Yk2",
             "https://news.example.org/best-gear-2026"]
LOCALES = ["en-GB", "fr-FR", "de-DE", "en-US"]


@dataclass(frozen=True)
class Person:
    anonymous_id: str
    user_id: str | None
    agent: str
    ip: str
    locale: str


def population(seed: int = 7) -> list[Person]:
    rng = random.Random(seed)
    return [Person(str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                   f"usr_{n:06d}" if rng.random() < 0.4 else None, rng.choice(AGENTS),
                   f"198.51.{rng.randrange(256)}.{rng.randrange(1, 255)}", rng.choice(LOCALES))
            for n in range(POPULATION)]


def _track_event(rng: random.Random) -> tuple[str, dict[str, Any], str]:
    """(event name, properties, page path) from a small set, roughly as a shop sends them."""
    name, category, price = rng.choice(PRODUCTS)
    sku = f"sku-{rng.randrange(10_000, 99_999)}"
    roll = rng.random()
    if roll < 0.45:
        return "Product Viewed", {"product_id": sku, "name": name, "category": category,
                                  "price": price, "currency": "EUR"}, f"/products/{sku}"
    if roll < 0.65:
        article = rng.choice(ARTICLES)
        return "Article Viewed", {"article": article, "section": "help"}, f"/help/{article}"
    if roll < 0.80:
        return "Product Added", {"product_id": sku, "name": name, "price": price,
                                 "quantity": rng.randint(1, 3), "currency": "EUR"}, "/cart"
    if roll < 0.90:
        return "Checkout Started", {"order_id": f"ord-{rng.randrange(10**8)}",
                                    "value": round(price * rng.randint(1, 3), 2),
                                    "currency": "EUR"}, "/checkout"
    if roll < 0.97:
        return "Products Searched", {"query": rng.choice(["rain jacket", "socks", "gift"])}, \
            "/search"
    return "Order Completed", {"order_id": f"ord-{rng.randrange(10**8)}",
                               "revenue": price, "currency": "EUR"}, "/checkout/done"


def message(rng: random.Random, person: Person, kind: str, message_id: str,
            at: datetime) -> dict[str, Any]:
    """One message as analytics.js (next) sends it; ``kind`` is track, page or identify."""
    event, properties, path = _track_event(rng)
    url = f"https://shop.example.com{path}"
    context = {"library": {"name": "analytics.js", "version": "next-1.72.0"},
               "page": {"path": path, "referrer": rng.choice(REFERRERS),
                        "title": "Outdoor Shop", "url": url},
               "userAgent": person.agent, "locale": person.locale, "ip": person.ip}
    stamp = at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    msg: dict[str, Any] = {"type": kind, "messageId": message_id,
                           "anonymousId": person.anonymous_id}
    if person.user_id is not None:
        msg["userId"] = person.user_id
    if kind == "track":
        msg.update(event=event, properties=properties)
    elif kind == "page":
        msg.update(name=None, properties={"path": path, "url": url, "title": "Outdoor Shop"})
    else:
        msg["traits"] = {"plan": rng.choice(["free", "member"]), "newsletter": rng.random() < 0.5}
    msg.update(context=context, timestamp=stamp, sentAt=stamp)
    return msg


def messages(rng: random.Random, people: list[Person], count: int, mixed: bool,
             id_of: Any) -> list[dict[str, Any]]:
    """``count`` messages: only track, or a browser's mix (70% track, 25% page, 5% identify)."""
    now = datetime.now(UTC)
    out = []
    for n in range(count):
        roll = rng.random()
        kind = "track" if not mixed or roll < 0.70 else "page" if roll < 0.95 else "identify"
        person = rng.choice(people)
        out.append(message(rng, person, kind, id_of(n), now - timedelta(milliseconds=n)))
    return out


