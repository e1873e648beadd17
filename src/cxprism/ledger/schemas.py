"""Ledger requests and responses. Hashes are base64; entries are shown both as their
exact bytes (base64, what the leaf hashes) and parsed, for people."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from cxprism.ledger.canonical import MAX_SAFE_INTEGER as MAX_SAFE_INDEX


class LedgerKey(BaseModel):
    origin: str = Field(description="the log's name: the first line of its checkpoints")
    verifier_key: str = Field(description="C2SP signed-note verifier key "
                              "`<name>+<key id>+<base64(0x01 || Ed25519 key)>`")
    algorithm: str = "ed25519"
    size: int = Field(description="entries in the log now")


class CheckpointOut(BaseModel):
    size: int
    root: str = Field(description="the tree's root hash, base64")
    note: str = Field(description="the checkpoint as a C2SP signed note")
    created_at: datetime
    exported_at: datetime | None


class CheckpointList(BaseModel):
    data: list[CheckpointOut]
    next_cursor: str | None


class EntryOut(BaseModel):
    index: int
    event_id: uuid.UUID
    event_type: str
    leaf_hash: str
    entry: str = Field(description="the exact canonical bytes that were hashed, base64")
    content: dict[str, Any] = Field(description="the same entry, parsed")
    created_at: datetime


class EntryList(BaseModel):
    data: list[EntryOut]
    next_cursor: str | None


class Receipt(BaseModel):
    format: str
    index: int
    entry: str
    inclusion_proof: list[str]
    checkpoint: str


MAX_RECEIPTS = 1000


class ReceiptsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    indices: list[Annotated[int, Field(ge=0, le=MAX_SAFE_INDEX)]] = Field(
        min_length=1, max_length=MAX_RECEIPTS,
        description="entries to prove (each once; at most 1,000 per request)")
    size: int | None = Field(default=None, ge=1, description="the checkpoint to prove them "
                             "against; default the latest, signed now if an entry is newer")


class ReceiptList(BaseModel):
    receipts: list[Receipt] = Field(description="one receipt per index, in the order asked, "
                                    "all against the same checkpoint")


class ConsistencyBundle(BaseModel):
    format: str
    old_checkpoint: str
    new_checkpoint: str
    consistency_proof: list[str]


class OpenedCustomer(BaseModel):
    commitment: str
    customer_id: uuid.UUID
    salt: str = Field(description="base64; SHA-256(salt || 'customer' || 0x00 || id bytes) "
                      "is the commitment")


class ContentCheck(BaseModel):
    commitment: str
    message: dict[str, Any] | None = Field(description="what the message says now; null "
                                           "when it was erased")
    matches: bool | None = Field(description="whether it is what the entry committed to")


class Opening(BaseModel):
    index: int
    customers: list[OpenedCustomer]
    content: ContentCheck | None


class WitnessIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(max_length=2000, description="http(s) URL on a public host that "
                            "each new checkpoint is POSTed to (text/plain); null stops it")


class WitnessOut(BaseModel):
    url: str | None


class AuditOut(BaseModel):
    intact: bool
    size: int
    checked: int
    first_bad_index: int | None
    problem: str | None
