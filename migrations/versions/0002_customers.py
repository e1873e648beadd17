"""customers: profiles, identities, consent, data keys, suppressions, data-subject requests

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:56:47.521110
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import cxprism.kit.types

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('customers',
    sa.Column('traits', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('trait_updated_at', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=True),
    sa.Column('locale', sa.String(length=35), nullable=True),
    sa.Column('merged_into_id', sa.Uuid(), nullable=True),
    sa.Column('merged_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('erased_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['merged_into_id'], ['customers.id'], name=op.f('fk_customers_merged_into_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers'))
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customers_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('consent_events',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consent_events_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_events'))
    )
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.create_index('ix_consent_events_customer', ['workspace_id', 'customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consent_events_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('consents',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('source', sa.String(length=100), nullable=False),
    sa.Column('occurred_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_consents_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consents')),
    sa.UniqueConstraint('workspace_id', 'customer_id', 'channel', 'purpose', name=op.f('uq_consents_workspace_id_customer_id_channel_purpose'))
    )
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consents_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_consents_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('customer_data_keys',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.Column('created_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('destroyed_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_data_keys_customer_id_customers')),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_data_keys'))
    )
    with op.batch_alter_table('customer_data_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_data_keys_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('customer_identities',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('namespace', sa.String(length=40), nullable=False),
    sa.Column('value', sa.String(length=320), nullable=False),
    sa.Column('first_seen_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_customer_identities_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_identities')),
    sa.UniqueConstraint('workspace_id', 'kind', 'namespace', 'value', name=op.f('uq_customer_identities_workspace_id_kind_namespace_value'))
    )
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_identities_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_identities_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('data_subject_requests',
    sa.Column('customer_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.Uuid(), nullable=True),
    sa.Column('suppress', sa.Boolean(), nullable=False),
    sa.Column('created_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('completed_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_data_subject_requests_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_subject_requests'))
    )
    with op.batch_alter_table('data_subject_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_subject_requests_customer_id'), ['customer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_data_subject_requests_workspace_id'), ['workspace_id'], unique=False)

    op.create_table('customer_suppressions',
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('request_id', sa.Uuid(), nullable=False),
    sa.Column('created_at', cxprism.kit.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('workspace_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['data_subject_requests.id'], name=op.f('fk_customer_suppressions_request_id_data_subject_requests')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_suppressions')),
    sa.UniqueConstraint('workspace_id', 'digest', name=op.f('uq_customer_suppressions_workspace_id_digest'))
    )
    with op.batch_alter_table('customer_suppressions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_suppressions_workspace_id'), ['workspace_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('customer_suppressions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_suppressions_workspace_id'))

    op.drop_table('customer_suppressions')
    with op.batch_alter_table('data_subject_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_subject_requests_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_data_subject_requests_customer_id'))

    op.drop_table('data_subject_requests')
    with op.batch_alter_table('customer_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_identities_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_customer_identities_customer_id'))

    op.drop_table('customer_identities')
    with op.batch_alter_table('customer_data_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_data_keys_workspace_id'))

    op.drop_table('customer_data_keys')
    with op.batch_alter_table('consents', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consents_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_consents_customer_id'))

    op.drop_table('consents')
    with op.batch_alter_table('consent_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consent_events_workspace_id'))
        batch_op.drop_index('ix_consent_events_customer')

    op.drop_table('consent_events')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_workspace_id'))
        batch_op.drop_index(batch_op.f('ix_customers_merged_into_id'))

    op.drop_table('customers')
