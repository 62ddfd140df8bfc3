"""channel secrets: webhook secrets kept apart from the monitor's channels (write-only)

Revision ID: 0005
Revises: 0003
Create Date: 2026-12-01 14:40:00.000000

Existing channels that carry an inline ``secret`` get it moved into ``channel_secrets``; the
channel keeps ``secret_id`` and ``secret_fingerprint``. (Audit events already written keep what
they recorded: the chain is not rewritten.)
"""

import hashlib
import json
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '0005'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    secrets = op.create_table('channel_secrets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.Integer(), nullable=False),
    sa.Column('fingerprint', sa.String(length=16), nullable=False),
    sa.Column('secret', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_channel_secrets_monitor_id_monitors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_channel_secrets'))
    )
    with op.batch_alter_table('channel_secrets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_channel_secrets_monitor_id'), ['monitor_id'], unique=False)

    conn = op.get_bind()
    monitors = sa.table('monitors', sa.column('id', sa.Integer()), sa.column('channels', sa.JSON()))
    for monitor_id, channels in conn.execute(sa.select(monitors.c.id, monitors.c.channels)).all():
        if isinstance(channels, str):
            channels = json.loads(channels)
        if not isinstance(channels, list) or not any(isinstance(c, dict) and c.get('secret') for c in channels):
            continue
        moved = []
        for channel in channels:
            if isinstance(channel, dict) and channel.get('secret'):
                secret = str(channel['secret'])
                fingerprint = hashlib.sha256(secret.encode()).hexdigest()[:8]
                secret_id = conn.execute(
                    secrets.insert()
                    .values(monitor_id=monitor_id, fingerprint=fingerprint, secret=secret, created_at=datetime.now(UTC))
                    .returning(secrets.c.id)
                ).scalar_one()
                channel = {k: v for k, v in channel.items() if k != 'secret'}
                channel.update(secret_id=secret_id, secret_fingerprint=fingerprint)
            moved.append(channel)
        conn.execute(monitors.update().where(monitors.c.id == monitor_id).values(channels=moved))


def downgrade() -> None:
    with op.batch_alter_table('channel_secrets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_channel_secrets_monitor_id'))

    op.drop_table('channel_secrets')
