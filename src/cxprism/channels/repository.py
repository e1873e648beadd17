"""Every query on connected channels."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from cxprism.channels.models import Channel
from cxprism.kit.repository import WorkspaceRepository


class ChannelRepository(WorkspaceRepository[Channel]):
    model = Channel

    async def all(self, kind: str | None = None) -> Sequence[Channel]:
        stmt = self.select().order_by(Channel.kind, Channel.name, Channel.id)
        if kind is not None:
            stmt = stmt.where(Channel.kind == kind)
        rows: Sequence[Channel] = (await self.session.execute(stmt)).scalars().all()
        return rows


async def address_taken(session: AsyncSession, kind: str, address: str,
                        except_id: uuid.UUID | None = None) -> bool:
    """Across workspaces, on purpose: one inbound address routes to exactly one channel."""
    stmt = select(Channel.id).where(Channel.kind == kind, Channel.address == address)
    if except_id is not None:
        stmt = stmt.where(Channel.id != except_id)
    return (await session.execute(stmt.limit(1))).first() is not None


async def inbound_channel(session: AsyncSession, kind: str,
                          channel_id: uuid.UUID) -> Channel | None:
    """The active channel a provider's webhook names (unscoped: the signature authenticates)."""
    stmt = select(Channel).where(Channel.id == channel_id, Channel.kind == kind,
                                 Channel.is_active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()


async def channel_by_address(session: AsyncSession, kind: str, address: str) -> Channel | None:
    """The active channel owning an inbound address (mail arrives by recipient address)."""
    stmt = select(Channel).where(Channel.kind == kind, Channel.address == address,
                                 Channel.is_active.is_(True))
    return (await session.execute(stmt)).scalar_one_or_none()
