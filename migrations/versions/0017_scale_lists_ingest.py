"""scale: stored compliance verdicts, an index for the stage filter, API record batches' key

Revision ID: 0017
Revises: 0005
Create Date: 2026-12-10 10:00:00.000000

``compliance_results`` starts empty: readers compute a version's verdict the first time it is
asked for and store it (see ``governance.compliance.cache``).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0017'
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('compliance_results',
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('compliant', sa.Boolean(), nullable=False),
    sa.Column('violations', sa.Integer(), nullable=False),
    sa.Column('warnings', sa.Integer(), nullable=False),
    sa.Column('obligations', sa.Integer(), nullable=False),
    sa.Column('report', sa.JSON(), nullable=False),
    sa.Column('computed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_compliance_results_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('model_version_id', name=op.f('pk_compliance_results'))
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_stage'), ['stage'], unique=False)
    with op.batch_alter_table('inference_batches', schema=None) as batch_op:
        batch_op.add_column(sa.Column('records_key', sa.String(length=64), nullable=True))
        batch_op.create_index('ix_inference_batches_records_key', ['model_version_id', 'kind', 'records_key'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('inference_batches', schema=None) as batch_op:
        batch_op.drop_index('ix_inference_batches_records_key')
        batch_op.drop_column('records_key')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_stage'))
    op.drop_table('compliance_results')
