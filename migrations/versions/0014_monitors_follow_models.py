"""monitors follow a model: model_id, optional pinned version, label delay; runs and alerts name their version

Revision ID: 0014
Revises: 0005
Create Date: 2026-12-02 10:00:00.000000

A monitor now belongs to a model (``model_id``); ``model_version_id`` is set only when it is pinned
to one version (existing monitors stay pinned to the version they watched). Each run and alert
records the version it evaluated (existing ones get their monitor's version).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0014'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('label_delay_seconds', sa.Integer(), server_default='0', nullable=False))
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_version_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('model_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('resolution', sa.Text(), nullable=True))

    versions = sa.table('model_versions', sa.column('id', sa.Integer()), sa.column('model_id', sa.Integer()))
    monitors = sa.table(
        'monitors',
        sa.column('id', sa.Integer()),
        sa.column('model_id', sa.Integer()),
        sa.column('model_version_id', sa.Integer()),
    )
    runs = sa.table('monitor_runs', sa.column('monitor_id', sa.Integer()), sa.column('model_version_id', sa.Integer()))
    alerts = sa.table('alerts', sa.column('monitor_id', sa.Integer()), sa.column('model_version_id', sa.Integer()))
    op.execute(
        monitors.update().values(
            model_id=sa.select(versions.c.model_id)
            .where(versions.c.id == monitors.c.model_version_id)
            .scalar_subquery()
        )
    )
    for table in (runs, alerts):
        op.execute(
            table.update().values(
                model_version_id=sa.select(monitors.c.model_version_id)
                .where(monitors.c.id == table.c.monitor_id)
                .scalar_subquery()
            )
        )

    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.alter_column('model_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('model_version_id', existing_type=sa.Integer(), nullable=True)
        batch_op.create_index(batch_op.f('ix_monitors_model_id'), ['model_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_monitors_model_id_models'), 'models', ['model_id'], ['id'])
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_runs_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_monitor_runs_model_version_id_model_versions'), 'model_versions', ['model_version_id'], ['id']
        )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_alerts_model_version_id_model_versions'), 'model_versions', ['model_version_id'], ['id']
        )


def downgrade() -> None:
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_alerts_model_version_id_model_versions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_alerts_model_version_id'))
        batch_op.drop_column('resolution')
        batch_op.drop_column('model_version_id')
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_monitor_runs_model_version_id_model_versions'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_monitor_runs_model_version_id'))
        batch_op.drop_column('model_version_id')
    versions = sa.table('model_versions', sa.column('id', sa.Integer()), sa.column('model_id', sa.Integer()))
    monitors = sa.table('monitors', sa.column('model_id', sa.Integer()), sa.column('model_version_id', sa.Integer()))
    op.execute(  # a monitor that followed its model is pinned to the model's newest version
        monitors.update()
        .where(monitors.c.model_version_id.is_(None))
        .values(
            model_version_id=sa.select(sa.func.max(versions.c.id))
            .where(versions.c.model_id == monitors.c.model_id)
            .scalar_subquery()
        )
    )
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_monitors_model_id_models'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_monitors_model_id'))
        batch_op.alter_column('model_version_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('label_delay_seconds')
        batch_op.drop_column('model_id')
