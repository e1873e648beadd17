"""A workspace's connected channels: one row per inbox address, number, page or account."""

from __future__ import annotations

from typing import Any

from sqlalchemy import LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from cxprism.kit.models import Base, IdMixin, TimestampMixin, WorkspaceScopedMixin


class Channel(IdMixin, TimestampMixin, WorkspaceScopedMixin, Base):
    """``config`` holds the connector's plain settings; ``secrets`` the encrypted rest.

    ``address`` is what inbound traffic is routed by (an inbox address, a phone number, a
    page id). It is unique per kind across workspaces: one number cannot feed two tenants.
    """

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("kind", "address"),)

    kind: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(320))
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    secrets: Mapped[bytes | None] = mapped_column(LargeBinary)
    is_active: Mapped[bool] = mapped_column(default=True)
