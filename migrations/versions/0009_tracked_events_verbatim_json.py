"""tracked_events.payload: JSON text instead of JSONB on PostgreSQL

Building JSONB was about a quarter of PostgreSQL's work per stored event, and nothing
queries inside a stored message: it is read whole. JSON keeps the text as written.
SQLite stores JSON as text either way, so only PostgreSQL changes. The ALTER rewrites the
table: on a large event store, run it in a maintenance window.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 12:10:00
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tracked_events ALTER COLUMN payload TYPE json USING payload::json")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tracked_events ALTER COLUMN payload TYPE jsonb USING payload::jsonb")
