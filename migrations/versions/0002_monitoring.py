"""production data, monitors, runs, alerts, retrain jobs

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('inference_batches',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('location', sa.String(length=1024), nullable=False),
    sa.Column('source_path', sa.String(length=1024), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('time_min', sa.DateTime(timezone=True), nullable=True),
    sa.Column('time_max', sa.DateTime(timezone=True), nullable=True),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('registered_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_inference_batches_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inference_batches')),
    sa.UniqueConstraint('model_version_id', 'kind', 'sha256', name=op.f('uq_inference_batches_model_version_id_kind_sha256'))
    )
    with op.batch_alter_table('inference_batches', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inference_batches_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inference_batches_time_max'), ['time_max'], unique=False)
        batch_op.create_index(batch_op.f('ix_inference_batches_time_min'), ['time_min'], unique=False)

    op.create_table('monitors',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('schedule', sa.String(length=128), nullable=False),
    sa.Column('window_seconds', sa.Integer(), nullable=False),
    sa.Column('start_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('channels', sa.JSON(), nullable=False),
    sa.Column('retrain_policy', sa.JSON(), nullable=True),
    sa.Column('catchup', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_monitors_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitors')),
    sa.UniqueConstraint('name', name=op.f('uq_monitors_name'))
    )
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitors_model_version_id'), ['model_version_id'], unique=False)

    op.create_table('monitor_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=True),
    sa.Column('duration_ms', sa.Integer(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_monitor_runs_monitor_id_monitors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_monitor_runs')),
    sa.UniqueConstraint('monitor_id', 'window_start', name=op.f('uq_monitor_runs_monitor_id_window_start'))
    )
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_monitor_runs_monitor_id'), ['monitor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_monitor_runs_status'), ['status'], unique=False)

    op.create_table('retrain_jobs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=256), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.Integer(), nullable=True),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claimed_by', sa.String(length=128), nullable=True),
    sa.Column('lease_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_retrain_jobs_model_version_id_model_versions')),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_retrain_jobs_monitor_id_monitors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_retrain_jobs')),
    sa.UniqueConstraint('key', name=op.f('uq_retrain_jobs_key'))
    )
    with op.batch_alter_table('retrain_jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_retrain_jobs_model_version_id'), ['model_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_retrain_jobs_status'), ['status'], unique=False)

    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('monitor_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('severity', sa.String(length=16), nullable=False),
    sa.Column('message', sa.Text(), nullable=False),
    sa.Column('first_run_id', sa.Integer(), nullable=False),
    sa.Column('last_run_id', sa.Integer(), nullable=False),
    sa.Column('window_start', sa.DateTime(timezone=True), nullable=False),
    sa.Column('window_end', sa.DateTime(timezone=True), nullable=False),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('thresholds', sa.JSON(), nullable=False),
    sa.Column('breaches', sa.Integer(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_by', sa.String(length=128), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['first_run_id'], ['monitor_runs.id'], name=op.f('fk_alerts_first_run_id_monitor_runs')),
    sa.ForeignKeyConstraint(['last_run_id'], ['monitor_runs.id'], name=op.f('fk_alerts_last_run_id_monitor_runs')),
    sa.ForeignKeyConstraint(['monitor_id'], ['monitors.id'], name=op.f('fk_alerts_monitor_id_monitors')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts'))
    )
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alerts_monitor_id'), ['monitor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alerts_status'), ['status'], unique=False)

    op.create_table('alert_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.String(length=512), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('response_code', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_alert_deliveries_alert_id_alerts')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_deliveries'))
    )
    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_alert_deliveries_alert_id'), ['alert_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_alert_deliveries_status'), ['status'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('alert_deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_status'))
        batch_op.drop_index(batch_op.f('ix_alert_deliveries_alert_id'))

    op.drop_table('alert_deliveries')
    with op.batch_alter_table('alerts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_alerts_status'))
        batch_op.drop_index(batch_op.f('ix_alerts_monitor_id'))

    op.drop_table('alerts')
    with op.batch_alter_table('retrain_jobs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_retrain_jobs_status'))
        batch_op.drop_index(batch_op.f('ix_retrain_jobs_model_version_id'))

    op.drop_table('retrain_jobs')
    with op.batch_alter_table('monitor_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitor_runs_status'))
        batch_op.drop_index(batch_op.f('ix_monitor_runs_monitor_id'))

    op.drop_table('monitor_runs')
    with op.batch_alter_table('monitors', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_monitors_model_version_id'))

    op.drop_table('monitors')
    with op.batch_alter_table('inference_batches', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inference_batches_time_min'))
        batch_op.drop_index(batch_op.f('ix_inference_batches_time_max'))
        batch_op.drop_index(batch_op.f('ix_inference_batches_model_version_id'))

    op.drop_table('inference_batches')

