"""ledger: logs, entries, stored subtrees, checkpoints, salts

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 04:03:50.330482
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import cxprism.kit.types

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('ledger_checkpoints',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('root', sa.LargeBinary(), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('created_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('exported_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('workspace_id', 'size', name=op.f('pk_ledger_checkpoints'))
    )
    op.create_table('ledger_entries',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('idx', sa.BigInteger(), nullable=False),
    sa.Column('event_id', sa.Uuid(), nullable=False),
    sa.Column('event_type', sa.String(length=100), nullable=False),
    sa.Column('entry', sa.LargeBinary(), nullable=False),
    sa.Column('leaf_hash', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'idx', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('workspace_id', 'event_id', name=op.f('uq_ledger_entries_workspace_id_event_id'))
    )
    op.create_table('ledger_logs',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('origin', sa.String(length=300), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('frontier', sa.LargeBinary(), nullable=False),
    sa.Column('last_leaf_hash', sa.LargeBinary(), nullable=True),
    sa.Column('erasures', sa.BigInteger(), nullable=False),
    sa.Column('signing_key', sa.LargeBinary(), nullable=False),
    sa.Column('public_key', sa.LargeBinary(), nullable=False),
    sa.Column('witness_url', sa.String(length=2000), nullable=True),
    sa.Column('created_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', name=op.f('pk_ledger_logs'))
    )
    op.create_table('ledger_nodes',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('idx', sa.BigInteger(), nullable=False),
    sa.Column('hash', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'level', 'idx', name=op.f('pk_ledger_nodes'))
    )
    op.create_table('ledger_salts',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('salt', sa.LargeBinary(), nullable=False),
    sa.Column('commitment', sa.String(length=80), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'customer_id', name=op.f('pk_ledger_salts')),
    sa.UniqueConstraint('workspace_id', 'commitment', name=op.f('uq_ledger_salts_workspace_id_commitment'))
    )


def downgrade() -> None:
    op.drop_table('ledger_salts')
    op.drop_table('ledger_nodes')
    op.drop_table('ledger_logs')
    op.drop_table('ledger_entries')
    op.drop_table('ledger_checkpoints')
