"""tracking: event store, sequence blocks, source counters, catalogue, groups

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 02:17:43.487602
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cxprism.kit.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('tracked_events',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('seq', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=True),
    sa.Column('user_id', sa.String(length=255), nullable=True),
    sa.Column('anonymous_id', sa.String(length=255), nullable=True),
    sa.Column('group_id', sa.String(length=255), nullable=True),
    sa.Column('previous_id', sa.String(length=255), nullable=True),
    sa.Column('timestamp', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('original_timestamp', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('received_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('payload', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'seq', name=op.f('pk_tracked_events')),
    sa.UniqueConstraint('workspace_id', 'message_id', name=op.f('uq_tracked_events_workspace_id_message_id'))
    )
    with op.batch_alter_table('tracked_events', schema=None) as batch_op:
        batch_op.create_index('ix_tracked_events_anonymous', ['workspace_id', 'anonymous_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_tracked_events_time', ['workspace_id', 'timestamp'], unique=False)
        batch_op.create_index('ix_tracked_events_user', ['workspace_id', 'user_id', 'timestamp'], unique=False)

    op.create_table('tracking_event_names',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('type', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=255), nullable=False),
    sa.Column('count', sa.BigInteger(), nullable=False),
    sa.Column('first_seen_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'type', 'name', name=op.f('pk_tracking_event_names'))
    )
    op.create_table('tracking_group_members',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.String(length=255), nullable=False),
    sa.Column('id_kind', sa.String(length=16), nullable=False),
    sa.Column('member_id', sa.String(length=255), nullable=False),
    sa.Column('joined_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'group_id', 'id_kind', 'member_id', name=op.f('pk_tracking_group_members'))
    )
    with op.batch_alter_table('tracking_group_members', schema=None) as batch_op:
        batch_op.create_index('ix_tracking_group_members_member', ['workspace_id', 'id_kind', 'member_id'], unique=False)

    op.create_table('tracking_groups',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('group_id', sa.String(length=255), nullable=False),
    sa.Column('traits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('first_seen_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('workspace_id', 'group_id', name=op.f('pk_tracking_groups'))
    )
    op.create_table('sequence_blocks',
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('last_value', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_sequence_blocks'))
    )
    if op.get_bind().dialect.name == "postgresql":
        # Blocks of 10,000 (cxprism.kit.sequences.BLOCK_SIZE): nextval never waits.
        op.execute("CREATE SEQUENCE tracked_events_seq INCREMENT BY 10000 START WITH 1")
    op.create_table('tracking_source_stats',
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.Column('source_id', sa.Uuid(), nullable=False),
    sa.Column('received', sa.BigInteger(), nullable=False),
    sa.Column('rejected', sa.BigInteger(), nullable=False),
    sa.Column('deduplicated', sa.BigInteger(), nullable=False),
    sa.Column('suppressed', sa.BigInteger(), nullable=False),
    sa.Column('last_received_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('workspace_id', 'source_id', name=op.f('pk_tracking_source_stats'))
    )


def downgrade() -> None:
    op.drop_table('tracking_source_stats')
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP SEQUENCE tracked_events_seq")
    op.drop_table('sequence_blocks')
    op.drop_table('tracking_groups')
    with op.batch_alter_table('tracking_group_members', schema=None) as batch_op:
        batch_op.drop_index('ix_tracking_group_members_member')

    op.drop_table('tracking_group_members')
    op.drop_table('tracking_event_names')
    with op.batch_alter_table('tracked_events', schema=None) as batch_op:
        batch_op.drop_index('ix_tracked_events_user')
        batch_op.drop_index('ix_tracked_events_time')
        batch_op.drop_index('ix_tracked_events_anonymous')

    op.drop_table('tracked_events')
