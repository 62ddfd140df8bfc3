"""audit events record their hash scheme (plain SHA-256 or HMAC-SHA256 under GOVERN_AUDIT_KEY)

Revision ID: 0008
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # events written before this revision were all plain SHA-256
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('hash_scheme', sa.String(length=16), server_default='sha256', nullable=False)
        )


def downgrade() -> None:
    keyed = op.get_bind().scalar(sa.text("SELECT count(*) FROM audit_events WHERE hash_scheme != 'sha256'"))
    if keyed:
        # without the marker these events would read as plain SHA-256 and fail verification
        raise RuntimeError(f"{keyed} audit events are keyed (HMAC-SHA256): the schema cannot go below 0008")
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_column('hash_scheme')
