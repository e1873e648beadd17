"""One commit of requests from several workspaces and sources checks each on its own.

The commit asks in one statement whether its sources are still active and which of its
workspaces hold suppressed people; these tests make that statement answer differently for
the parts of one commit.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from cxprism.kit.db import Database
from cxprism.kit.errors import Unauthorized
from cxprism.tracking.ingest import Outcome, _Submission, write
from cxprism.tracking.messages import Envelope, to_row
from cxprism.workspaces.auth import SourceCredential
from cxprism.workspaces.service import WorkspaceService
from tests.fixtures.builders import Tenant
from tests.tracking.helpers import (
    Source,
    erase_with_suppression,
    make_source,
    stored_count,
    track,
)


def _submission(tenant: Tenant, source: Source, *messages: dict[str, object]) -> _Submission:
    envelope = Envelope(datetime.now(UTC))
    return _Submission(SourceCredential(tenant.workspace_id, source.id),
                       [to_row(dict(m), envelope) for m in messages], 0)


async def test_a_revoked_source_and_a_suppressing_workspace_in_one_commit(
        client: httpx.AsyncClient, db: Database, tenant: Tenant,
        other_tenant: Tenant) -> None:
    suppressing, revoked = await make_source(db, tenant), await make_source(db, tenant, "app")
    plain = await make_source(db, other_tenant)
    await erase_with_suppression(client, db, tenant, suppressing, {
        "userId": "gone", "messageId": "i-gone", "traits": {"email": "gone@example.com"}})
    async with db.session() as session:
        await WorkspaceService(session, tenant.workspace_id).revoke_source(revoked.id)
        await session.commit()
    before = await stored_count(db, tenant.workspace_id)
    gone = {"type": "track", "event": "Back", "userId": "gone", "messageId": "back"}
    batch = [_submission(tenant, suppressing, gone, track(1)),
             _submission(tenant, revoked, track(2)),
             _submission(other_tenant, plain, dict(gone, messageId="other-gone"), track(3))]
    async with db.session() as session:
        outcomes = await write(session, batch)
        await session.commit()
    assert outcomes[0] == Outcome(stored=1, deduplicated=0, suppressed=1)
    assert isinstance(outcomes[1], Unauthorized)
    # 'gone' was erased in the first workspace only: the other keeps its own 'gone'.
    assert outcomes[2] == Outcome(stored=2, deduplicated=0, suppressed=0)
    assert await stored_count(db, tenant.workspace_id) == before + 1
    assert await stored_count(db, other_tenant.workspace_id) == 2


async def test_a_commit_leaves_little_cyclic_garbage(db: Database, tenant: Tenant) -> None:
    """Statements built per commit left reference cycles; collecting them stalled requests.
    On PostgreSQL a commit now leaves none; on SQLite the driver's own few remain."""
    import gc

    source = await make_source(db, tenant)

    async def commit(n: int) -> None:
        async with db.session() as session:
            await write(session, [_submission(tenant, source, *(track(n * 100 + k)
                                                                 for k in range(50)))])
            await session.commit()

    await commit(0)  # warm every cache
    gc.collect()
    gc.disable()
    try:
        for n in range(1, 21):
            await commit(n)
        garbage = gc.collect()
    finally:
        gc.enable()
    assert garbage <= (0 if db.dialect == "postgresql" else 10 * 20), garbage
