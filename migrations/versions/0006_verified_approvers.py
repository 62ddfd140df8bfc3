"""verified approvers: each approval records the approver's role and how their identity was verified

Revision ID: 0006
Revises: 0003
Create Date: 2026-11-24 10:00:00.000000

Decisions recorded before this revision keep NULL in both columns: nothing proves who made them
(the CLI trusted a free-text name), so they no longer count towards production.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approver_role', sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column('verification', sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('approvals', schema=None) as batch_op:
        batch_op.drop_column('verification')
        batch_op.drop_column('approver_role')
