"""tracked_events: the user and anonymous id indexes skip rows without the id

A row without a userId (anonymous browsing) or without an anonymousId (server sources)
no longer costs an entry in that index. Lookups by id imply the id is not NULL, so the
planner still uses them.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 13:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

INDEXES = {"ix_tracked_events_user": "user_id", "ix_tracked_events_anonymous": "anonymous_id"}


def upgrade() -> None:
    for name, column in INDEXES.items():
        op.drop_index(name, table_name="tracked_events")
        where = sa.text(f"{column} IS NOT NULL")
        op.create_index(name, "tracked_events", ["workspace_id", column, "timestamp"],
                        postgresql_where=where, sqlite_where=where)


def downgrade() -> None:
    for name, column in INDEXES.items():
        op.drop_index(name, table_name="tracked_events")
        op.create_index(name, "tracked_events", ["workspace_id", column, "timestamp"])
