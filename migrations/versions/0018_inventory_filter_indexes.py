"""indexes for the inventory's owner and risk filters

Revision ID: 0018
Revises: 0020
Create Date: 2026-12-03 10:00:00.000000

The inventory filters versions by owner (``registered_by``) and risk tier and lists the owners on
every page view (``SELECT DISTINCT registered_by``); stage already had its index (issue 15).
"""

from collections.abc import Sequence

from alembic import op

revision: str = '0018'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_registered_by'), ['registered_by'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_versions_risk_tier'), ['risk_tier'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_risk_tier'))
        batch_op.drop_index(batch_op.f('ix_model_versions_registered_by'))
