"""The trust ledger: the published key, checkpoints, entries, receipts, consistency
proofs, the audit, and the witness a workspace exports its checkpoints to."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.kit.errors import Unprocessable
from cxprism.kit.http import TransactionalRoute, db_session
from cxprism.kit.pagination import clamp_limit
from cxprism.ledger import schemas, witness
from cxprism.ledger.models import LedgerCheckpoint, LedgerEntry
from cxprism.ledger.proofs import ProofService
from cxprism.ledger.service import LedgerService
from cxprism.workspaces.auth import Principal, require
from cxprism.workspaces.permissions import Permission

router = APIRouter(route_class=TransactionalRoute, prefix="/ledger", tags=["ledger"])

Session = Depends(db_session)
Read = Depends(require(Permission.LEDGER_READ))
Manage = Depends(require(Permission.LEDGER_MANAGE))


def _ledger(session: AsyncSession, principal: Principal) -> LedgerService:
    return LedgerService(session, principal.workspace_id)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _checkpoint(row: LedgerCheckpoint) -> dict[str, Any]:
    return {"size": row.size, "root": _b64(row.root), "note": row.note,
            "created_at": row.created_at, "exported_at": row.exported_at}


def _entry(row: LedgerEntry) -> dict[str, Any]:
    return {"index": row.idx, "event_id": row.event_id, "event_type": row.event_type,
            "leaf_hash": _b64(row.leaf_hash), "entry": _b64(row.entry),
            "content": orjson.loads(row.entry), "created_at": row.created_at}


def _index_cursor(cursor: str | None, *, default: int) -> int:
    if cursor is None:
        return default
    if not cursor.isdigit() or len(cursor) > 19:
        raise Unprocessable("The cursor is not one this API issued; pass next_cursor from a "
                            "previous page.", details={"field": "cursor"})
    return int(cursor)


@router.get("/key", response_model=schemas.LedgerKey)
async def get_key(session: AsyncSession = Session, principal: Principal = Read) -> object:
    """The log's verifier key: with it alone, anyone can check receipts and checkpoints
    offline (`cxprism ledger verify`, or any Ed25519 implementation)."""
    ledger = _ledger(session, principal)
    log = await ledger.head()
    return {"origin": log.origin, "verifier_key": (await ledger.verifier_key()).encode(),
            "size": log.size}


@router.get("/checkpoints", response_model=schemas.CheckpointList)
async def list_checkpoints(limit: int | None = None, cursor: str | None = None,
                           session: AsyncSession = Session,
                           principal: Principal = Read) -> object:
    """Signed checkpoints, newest first."""
    size = clamp_limit(limit)
    before = _index_cursor(cursor, default=-1)
    rows = await _ledger(session, principal).checkpoints(
        None if before < 0 else before, size + 1)
    more = len(rows) > size
    return {"data": [_checkpoint(r) for r in rows[:size]],
            "next_cursor": str(rows[size - 1].size) if more else None}


@router.post("/checkpoints", response_model=schemas.CheckpointOut, status_code=201)
async def sign_checkpoint(session: AsyncSession = Session,
                          principal: Principal = Manage) -> object:
    """Sign the log's current head now (the same checkpoint again when nothing was added).
    409 `ledger_inconsistent` when the stored log does not extend the last checkpoint."""
    return _checkpoint(await _ledger(session, principal).sign_checkpoint())


@router.get("/checkpoints/latest", response_model=schemas.CheckpointOut)
async def latest_checkpoint(session: AsyncSession = Session,
                            principal: Principal = Read) -> object:
    return _checkpoint(await _ledger(session, principal).latest_checkpoint())


@router.get("/checkpoints/{size}", response_model=schemas.CheckpointOut)
async def get_checkpoint(size: int, session: AsyncSession = Session,
                         principal: Principal = Read) -> object:
    return _checkpoint(await _ledger(session, principal).checkpoint(size))


@router.get("/consistency", response_model=schemas.ConsistencyBundle)
async def consistency(old: int = Query(ge=0), new: int = Query(ge=0),
                      session: AsyncSession = Session, principal: Principal = Read) -> object:
    """The proof that the checkpoint of size ``old`` is a prefix of the one of size ``new``,
    with both signed notes (check it offline with `cxprism ledger verify`)."""
    return await ProofService(_ledger(session, principal)).consistency(old, new)


@router.get("/entries", response_model=schemas.EntryList)
async def list_entries(limit: int | None = None, cursor: str | None = None,
                       event_type: str | None = Query(default=None, max_length=100),
                       session: AsyncSession = Session, principal: Principal = Read) -> object:
    """Entries in log order."""
    size = clamp_limit(limit)
    after = _index_cursor(cursor, default=-1)
    rows = await _ledger(session, principal).entries(after, size + 1, event_type)
    more = len(rows) > size
    return {"data": [_entry(r) for r in rows[:size]],
            "next_cursor": str(rows[size - 1].idx) if more else None}


@router.get("/entries/{index}", response_model=schemas.EntryOut)
async def get_entry(index: int, session: AsyncSession = Session,
                    principal: Principal = Read) -> object:
    return _entry(await ProofService(_ledger(session, principal)).entry(index))


@router.get("/entries/{index}/receipt", response_model=schemas.Receipt)
async def entry_receipt(index: int, size: int | None = Query(default=None, ge=1),
                        session: AsyncSession = Session, principal: Principal = Read) -> object:
    """The entry, an inclusion proof and the signed checkpoint it is proven against
    (``size``: that checkpoint; default the latest, signed now if the entry is newer)."""
    proofs = ProofService(_ledger(session, principal))
    return await proofs.receipt(await proofs.entry(index), size)


@router.post("/receipts", response_model=schemas.ReceiptList)
async def entry_receipts(body: schemas.ReceiptsIn, session: AsyncSession = Session,
                         principal: Principal = Read) -> object:
    """Receipts for up to 1,000 entries at once, all against one checkpoint (``size``, or
    the latest, signed now if an entry is newer): an export for an auditor or a customer,
    each receipt checkable on its own with ``cxprism ledger verify``."""
    proofs = ProofService(_ledger(session, principal))
    return {"receipts": await proofs.receipts(body.indices, body.size)}


@router.get("/entries/{index}/opening", response_model=schemas.Opening)
async def entry_opening(index: int, session: AsyncSession = Session,
                        principal: Principal = Manage) -> object:
    """Who the entry's salted commitments stand for, with the salts that open them (gone
    once the customer is erased), and for a message whether its stored content still
    matches what the entry committed to: SHA-256(salt || "content" || 0x00 || message id
    bytes || RFC 8785 JSON of the content)."""
    proofs = ProofService(_ledger(session, principal))
    return await proofs.opening(await proofs.entry(index))


@router.get("/events/{event_id}/receipt", response_model=schemas.Receipt)
async def event_receipt(event_id: uuid.UUID, size: int | None = Query(default=None, ge=1),
                        session: AsyncSession = Session, principal: Principal = Read) -> object:
    """The receipt of the entry that records domain event ``event_id``."""
    proofs = ProofService(_ledger(session, principal))
    return await proofs.receipt(await proofs.entry_of_event(event_id), size)


@router.post("/audit", response_model=schemas.AuditOut)
async def audit(session: AsyncSession = Session, principal: Principal = Manage) -> object:
    """Recompute the log from its stored entries; the first index where anything was
    edited, deleted, inserted or reordered."""
    report = await ProofService(_ledger(session, principal)).audit()
    finding = report.finding
    return {"intact": report.intact, "size": report.size, "checked": report.checked,
            "first_bad_index": finding.index if finding else None,
            "problem": finding.problem if finding else None}


@router.get("/witness", response_model=schemas.WitnessOut)
async def get_witness(session: AsyncSession = Session, principal: Principal = Manage) -> object:
    return {"url": (await _ledger(session, principal).head()).witness_url}


@router.put("/witness", response_model=schemas.WitnessOut)
async def put_witness(data: schemas.WitnessIn, session: AsyncSession = Session,
                      principal: Principal = Manage) -> object:
    """Export every new checkpoint to ``url`` (POST, text/plain signed note)."""
    await witness.set_witness(session, principal.workspace_id, data.url)
    return {"url": data.url}
