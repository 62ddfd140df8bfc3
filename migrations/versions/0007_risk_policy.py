"""risk assessment, promotion policy versions, approval levels, robustness records

Revision ID: 0007
Revises: 0003
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0007'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('policy_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('document', sa.JSON(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_policy_versions')),
    sa.UniqueConstraint('version', name=op.f('uq_policy_versions_version'))
    )
    op.create_table('risk_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('from_tier', sa.String(length=8), nullable=False),
    sa.Column('to_tier', sa.String(length=8), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('decided_by', sa.String(length=128), nullable=True),
    sa.Column('decision_comment', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_risk_changes_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_risk_changes'))
    )
    with op.batch_alter_table('risk_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_risk_changes_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_risk_changes_status'), ['status'], unique=False)

    op.create_table('robustness_records',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('epsilon', sa.Double(), nullable=False),
    sa.Column('robust_accuracy', sa.Double(), nullable=False),
    sa.Column('clean_accuracy', sa.Double(), nullable=True),
    sa.Column('source', sa.String(length=128), nullable=False),
    sa.Column('recorded_by', sa.String(length=128), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_robustness_records_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_robustness_records'))
    )
    with op.batch_alter_table('robustness_records', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_robustness_records_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_robustness_records_model_version_id'), ['model_version_id'], unique=False)

    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('intended_purpose', sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column('risk_assessed', sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column('risk_reason', sa.Text(), nullable=True))
    with op.batch_alter_table('stage_transitions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('policy_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('approval_requests', schema=None) as batch_op:
        batch_op.add_column(sa.Column('levels', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('policy_version', sa.Integer(), nullable=True))
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('level', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('role', sa.String(length=16), nullable=True))

def downgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_column('role')
        batch_op.drop_column('level')
    with op.batch_alter_table('approval_requests', schema=None) as batch_op:
        batch_op.drop_column('policy_version')
        batch_op.drop_column('levels')
    with op.batch_alter_table('stage_transitions', schema=None) as batch_op:
        batch_op.drop_column('policy_version')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_column('risk_reason')
        batch_op.drop_column('risk_assessed')
        batch_op.drop_column('intended_purpose')
    with op.batch_alter_table('robustness_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_robustness_records_model_version_id'))
        batch_op.drop_index(batch_op.f('ix_robustness_records_at'))

    op.drop_table('robustness_records')
    with op.batch_alter_table('risk_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_risk_changes_status'))
        batch_op.drop_index(batch_op.f('ix_risk_changes_model_version_id'))

    op.drop_table('risk_changes')
    op.drop_table('policy_versions')
