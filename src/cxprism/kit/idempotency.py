"""``Idempotency-Key`` on mutating POSTs.

Same key + same request from the same caller = the stored response again (header
``Idempotent-Replayed``); same key + a different request, or another caller = 409. The
record is written in the request's own transaction, so it exists exactly when the
request's effects do. Stored responses can hold secrets (a new API key), so they are
kept encrypted and never replayed to another caller.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.exceptions import InvalidTag
from fastapi import Request, Response
from sqlalchemy import LargeBinary, String, UniqueConstraint, delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit import crypto
from cxprism.kit.clock import utcnow
from cxprism.kit.errors import Conflict, Unprocessable
from cxprism.kit.models import Base, IdMixin

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
RETENTION = timedelta(hours=24)
FORGET_BATCH = 500


class IdempotencyRecord(IdMixin, Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    workspace_id: Mapped[uuid.UUID]
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int]
    media_type: Mapped[str | None] = mapped_column(String(100))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class IdempotentReplay(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


@dataclass(frozen=True)
class PendingKey:
    workspace_id: uuid.UUID
    key: str
    request_hash: str


async def check(session: AsyncSession, request: Request, workspace_id: uuid.UUID,
                caller: str) -> None:
    """Called once the caller is known; replays or refuses a reused key.

    ``caller`` names the credential (API key or user), so a replay reaches only the
    caller that made the original request.
    """
    key = request.headers.get(HEADER)
    if request.method != "POST" or key is None:
        return
    if not 0 < len(key) <= MAX_KEY_LENGTH:
        raise Unprocessable(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
    fingerprint = await _fingerprint(request, caller)
    record = (await session.execute(select(IdempotencyRecord).where(
        IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key
    ))).scalar_one_or_none()
    if record is not None and record.created_at < utcnow() - RETENTION:
        await session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
        record = None
    if record is None:
        request.state.idempotency = PendingKey(workspace_id, key, fingerprint)
        return
    if record.request_hash != fingerprint:
        raise Conflict(
            f"This {HEADER} was already used for a different request or by another "
            "caller; use a new key.",
            code="idempotency_key_reused",
        )
    raise IdempotentReplay(Response(
        content=_open(request, record), status_code=record.status_code,
        media_type=record.media_type,
        headers={"Idempotent-Replayed": "true"},
    ))


async def remember(session: AsyncSession, request: Request, response: Response) -> None:
    pending: PendingKey | None = getattr(request.state, "idempotency", None)
    if pending is None or response.status_code >= 400:
        return
    session.add(IdempotencyRecord(
        workspace_id=pending.workspace_id, key=pending.key, request_hash=pending.request_hash,
        status_code=response.status_code, media_type=response.media_type,
        body=crypto.encrypt(_key(request), bytes(response.body),
                            _aad(pending.workspace_id, pending.key)),
    ))


async def purge_expired(session: AsyncSession) -> int:
    result = await session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < utcnow() - RETENTION))
    return int(result.rowcount)  # type: ignore[attr-defined]


async def forget_responses_mentioning(session: AsyncSession, workspace_id: uuid.UUID,
                                      needles: Collection[str], secret: str) -> int:
    """Delete the workspace's stored responses that mention any of ``needles``; the count.

    For erasure: a stored response can hold a person's data, and replaying its key would
    hand that data back after the person was erased. Bodies are encrypted, so each record
    inside the retention window is decrypted (``secret`` is the settings' secret key) and
    searched. A record that cannot be decrypted (the secret changed) could mention anyone
    and can never be replayed, so it goes too, as does every expired record. A key that
    was forgotten is then a new key: its next use is processed afresh, like a first use.
    Runs in the caller's transaction; flushes, never commits.
    """
    wanted = [needle.encode() for needle in needles if needle]
    key = _derive(secret)
    cutoff = utcnow() - RETENTION
    doomed: list[uuid.UUID] = []
    after: uuid.UUID | None = None
    while True:
        stmt = select(IdempotencyRecord.id, IdempotencyRecord.key, IdempotencyRecord.body,
                      IdempotencyRecord.created_at).where(
            IdempotencyRecord.workspace_id == workspace_id)
        if after is not None:
            stmt = stmt.where(IdempotencyRecord.id > after)
        rows = (await session.execute(
            stmt.order_by(IdempotencyRecord.id).limit(FORGET_BATCH))).all()
        if not rows:
            break
        after = rows[-1].id
        doomed += [row.id for row in rows if row.created_at < cutoff or _mentions(
            key, _aad(workspace_id, row.key), row.body, wanted)]
    for start in range(0, len(doomed), FORGET_BATCH):
        await session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.id.in_(doomed[start:start + FORGET_BATCH])))
    return len(doomed)


def _mentions(key: bytes, aad: bytes, body: bytes, needles: list[bytes]) -> bool:
    try:
        plaintext = crypto.decrypt(key, body, aad)
    except (InvalidTag, ValueError):
        return True
    return any(needle in plaintext for needle in needles)


def _derive(secret: str) -> bytes:
    return crypto.derive_key(secret, "idempotency")


def _key(request: Request) -> bytes:
    secret: str = request.app.state.settings.secret_key.get_secret_value()
    return _derive(secret)


def _aad(workspace_id: uuid.UUID, key: str) -> bytes:
    return f"{workspace_id}|{key}".encode()


def _open(request: Request, record: IdempotencyRecord) -> bytes:
    return crypto.decrypt(_key(request), record.body, _aad(record.workspace_id, record.key))


async def _fingerprint(request: Request, caller: str) -> str:
    digest = hashlib.sha256()
    digest.update(f"{caller}\n{request.method} {request.url.path}?{request.url.query}\n".encode())
    digest.update(await request.body())
    return digest.hexdigest()
