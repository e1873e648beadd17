"""Sign-in throttling: too many failures for one account, or from one address, wait.

Failures are counted in fixed 15-minute windows; a key is refused while the current and
the previous window together hold ``limit`` failures. Any 15-minute span lies inside
those two windows, so "5 failures within 15 minutes" always trips it; the refusal lasts
until the failures age out (at most 30 minutes). Counting per window keeps every write
one atomic upsert, safe under concurrent requests on SQLite and PostgreSQL alike.

An attempt is counted as a failure before its password is checked (``admit``) and
forgiven once it succeeds, so parallel requests cannot run more password checks than
the limit allows. Refused attempts are not counted.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.db import Database, add_to_counter
from cxprism.web.models import LoginAttempt

WINDOW_SECONDS = 15 * 60
ACCOUNT_LIMIT = 5
# Higher than the per-account limit: one office behind NAT shares an address.
ADDRESS_LIMIT = 20


def account_key(workspace_slug: str, email: str) -> str:
    identity = f"account|{workspace_slug.strip().lower()}|{email.strip().lower()}"
    return hashlib.sha256(identity.encode()).hexdigest()


def address_key(address: str) -> str:
    return hashlib.sha256(f"address|{address}".encode()).hexdigest()


def window_of(now: float) -> int:
    return int(now // WINDOW_SECONDS)


def wait_seconds(previous: int, current: int, limit: int, now: float) -> int:
    """Seconds before this key may try again; 0 when it may try now. Pure."""
    if previous + current < limit:
        return 0
    wait = (window_of(now) + 1) * WINDOW_SECONDS - now
    if current >= limit:
        # The current window's failures still count through the next window.
        wait += WINDOW_SECONDS
    return max(1, math.ceil(wait))


async def admit(db: Database, limits: Mapping[str, int], now: float) -> int:
    """Count this attempt against every key (key -> limit) BEFORE its password is checked.

    Returns 0 when it may go on: the attempt is committed as a failure, to be forgiven if
    the password turns out right. Otherwise the longest wait, and nothing is counted.
    Counting first is what bounds parallel guessing: on PostgreSQL the counter upsert
    locks the row until commit, so concurrent attempts on one key take turns and each
    sees every attempt admitted before it; SQLite has a single writer anyway.
    Its own short transaction, committed before the request's begins: on SQLite, holding
    two write transactions at once in one request would deadlock on the write lock.
    """
    async with db.session() as session:
        dialect = session.get_bind().dialect.name
        current = window_of(now)
        for key in sorted(limits):  # a fixed order, so concurrent writers never deadlock
            await session.execute(add_to_counter(
                dialect, LoginAttempt, {"key": key, "bucket": current}, "failures", 1))
        counts = await _counts(session, list(limits), current)
        # Judge by the attempts before this one: the limit-th attempt is still allowed.
        wait = max(wait_seconds(counts.get((key, current - 1), 0),
                                counts.get((key, current), 1) - 1, limit, now)
                   for key, limit in limits.items())
        if wait:
            await session.rollback()
            return wait
        await session.execute(delete(LoginAttempt).where(LoginAttempt.bucket < current - 1))
        await session.commit()
        return 0


async def _counts(session: AsyncSession, keys: list[str],
                  current: int) -> dict[tuple[str, int], int]:
    rows = await session.execute(
        select(LoginAttempt.key, LoginAttempt.bucket, LoginAttempt.failures).where(
            LoginAttempt.key.in_(keys), LoginAttempt.bucket >= current - 1))
    return {(key, bucket): n for key, bucket, n in rows}


async def forgive(session: AsyncSession, address: str, now: float) -> None:
    """Take back an admitted attempt from the address's count: it was not a failure."""
    await session.execute(
        update(LoginAttempt)
        .where(LoginAttempt.key == address, LoginAttempt.bucket == window_of(now),
               LoginAttempt.failures > 0)
        .values(failures=LoginAttempt.failures - 1))


async def forget(session: AsyncSession, key: str) -> None:
    """A successful sign-in clears that account's failures (not the address's)."""
    await session.execute(delete(LoginAttempt).where(LoginAttempt.key == key))
