"""tracked_events: ids compare as bytes (COLLATE "C") on PostgreSQL

Message, user, anonymous, group and previous ids are opaque: their order means nothing,
but comparing them under the database's linguistic collation (strcoll) was most of the
cost of keeping the three indexes that hold them. Equality is unchanged (a deterministic
collation is equal only for equal bytes). SQLite compares bytes already.

The indexes on these columns are rebuilt, under an exclusive lock on the table.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 17:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

COLUMNS = ("message_id", "user_id", "anonymous_id", "group_id", "previous_id")


def _collate(collation: str | None) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for column in COLUMNS:
        op.alter_column("tracked_events", column,
                        type_=sa.String(255, collation=collation),
                        existing_type=sa.String(255))


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
