"""registry: licenses, datasets, models, lineage, stages, audit log

Revision ID: 0001
Revises: 
Create Date: 2026-11-22
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
import json
from datetime import UTC, datetime
from pathlib import Path

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('audit_events',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('entity_type', sa.String(length=32), nullable=False),
    sa.Column('entity_id', sa.String(length=256), nullable=False),
    sa.Column('changes', sa.JSON(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_events')),
    sa.UniqueConstraint('hash', name=op.f('uq_audit_events_hash'))
    )
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_events_action'), ['action'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_events_entity_id'), ['entity_id'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_head'))
    )
    op.create_table('datasets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_datasets')),
    sa.UniqueConstraint('name', name=op.f('uq_datasets_name'))
    )
    op.create_table('licenses',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('spdx_id', sa.String(length=128), nullable=False),
    sa.Column('name', sa.String(length=256), nullable=False),
    sa.Column('url', sa.String(length=512), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('commercial_use', sa.Boolean(), nullable=False),
    sa.Column('derivatives', sa.Boolean(), nullable=False),
    sa.Column('share_alike', sa.Boolean(), nullable=False),
    sa.Column('copyleft', sa.String(length=16), nullable=False),
    sa.Column('attribution', sa.Boolean(), nullable=False),
    sa.Column('use_restrictions', sa.JSON(), nullable=False),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.Column('builtin', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_licenses')),
    sa.UniqueConstraint('spdx_id', name=op.f('uq_licenses_spdx_id'))
    )
    op.create_table('models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_models')),
    sa.UniqueConstraint('name', name=op.f('uq_models_name'))
    )
    op.create_table('dataset_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('dataset_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('location', sa.String(length=1024), nullable=False),
    sa.Column('source_path', sa.String(length=1024), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('format', sa.String(length=16), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('columns', sa.JSON(), nullable=False),
    sa.Column('label_column', sa.String(length=256), nullable=True),
    sa.Column('source', sa.Text(), nullable=True),
    sa.Column('license_expression', sa.String(length=512), nullable=False),
    sa.Column('personal_data', sa.String(length=16), nullable=False),
    sa.Column('legal_basis', sa.String(length=256), nullable=True),
    sa.Column('jurisdictions', sa.JSON(), nullable=False),
    sa.Column('quality_report', sa.JSON(), nullable=True),
    sa.Column('registered_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['dataset_id'], ['datasets.id'], name=op.f('fk_dataset_versions_dataset_id_datasets')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dataset_versions')),
    sa.UniqueConstraint('dataset_id', 'version', name=op.f('uq_dataset_versions_dataset_id_version'))
    )
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dataset_versions_dataset_id'), ['dataset_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dataset_versions_sha256'), ['sha256'], unique=False)

    op.create_table('dataset_lineage',
    sa.Column('child_id', sa.Integer(), nullable=False),
    sa.Column('parent_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['child_id'], ['dataset_versions.id'], name=op.f('fk_dataset_lineage_child_id_dataset_versions')),
    sa.ForeignKeyConstraint(['parent_id'], ['dataset_versions.id'], name=op.f('fk_dataset_lineage_parent_id_dataset_versions')),
    sa.PrimaryKeyConstraint('child_id', 'parent_id', name=op.f('pk_dataset_lineage'))
    )
    op.create_table('model_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.String(length=64), nullable=False),
    sa.Column('artifact_location', sa.String(length=1024), nullable=False),
    sa.Column('source_path', sa.String(length=1024), nullable=True),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('framework', sa.String(length=32), nullable=False),
    sa.Column('task', sa.String(length=64), nullable=True),
    sa.Column('license_expression', sa.String(length=512), nullable=True),
    sa.Column('base_model_version_id', sa.Integer(), nullable=True),
    sa.Column('dependencies', sa.JSON(), nullable=False),
    sa.Column('hyperparameters', sa.JSON(), nullable=False),
    sa.Column('seed', sa.Integer(), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=False),
    sa.Column('mlflow_run_id', sa.String(length=64), nullable=True),
    sa.Column('intended_use', sa.String(length=16), nullable=False),
    sa.Column('risk_tier', sa.String(length=8), nullable=False),
    sa.Column('stage', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('registered_by', sa.String(length=128), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['base_model_version_id'], ['model_versions.id'], name=op.f('fk_model_versions_base_model_version_id_model_versions')),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_model_versions_model_id_models')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_versions')),
    sa.UniqueConstraint('model_id', 'version', name=op.f('uq_model_versions_model_id_version'))
    )
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_versions_base_model_version_id'), ['base_model_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_versions_model_id'), ['model_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_versions_sha256'), ['sha256'], unique=False)

    op.create_table('model_datasets',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('dataset_version_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['dataset_version_id'], ['dataset_versions.id'], name=op.f('fk_model_datasets_dataset_version_id_dataset_versions')),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_model_datasets_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_model_datasets')),
    sa.UniqueConstraint('model_version_id', 'dataset_version_id', 'role', name=op.f('uq_model_datasets_model_version_id_dataset_version_id_role'))
    )
    with op.batch_alter_table('model_datasets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_datasets_dataset_version_id'), ['dataset_version_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_model_datasets_model_version_id'), ['model_version_id'], unique=False)

    op.create_table('stage_transitions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_version_id', sa.Integer(), nullable=False),
    sa.Column('from_stage', sa.String(length=16), nullable=True),
    sa.Column('to_stage', sa.String(length=16), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_version_id'], ['model_versions.id'], name=op.f('fk_stage_transitions_model_version_id_model_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stage_transitions'))
    )
    with op.batch_alter_table('stage_transitions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stage_transitions_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_stage_transitions_model_version_id'), ['model_version_id'], unique=False)



    _load_license_catalog()


def _load_license_catalog() -> None:
    """The shipped catalog (data, model and software licenses), as it stood at this revision."""
    catalog = json.loads((Path(__file__).parent.parent / "data" / "license_catalog_0001.json").read_text())
    licenses = sa.table(
        "licenses",
        sa.column("spdx_id", sa.String), sa.column("name", sa.String), sa.column("url", sa.String),
        sa.column("kind", sa.String), sa.column("commercial_use", sa.Boolean), sa.column("derivatives", sa.Boolean),
        sa.column("share_alike", sa.Boolean), sa.column("copyleft", sa.String), sa.column("attribution", sa.Boolean),
        sa.column("use_restrictions", sa.JSON), sa.column("notes", sa.Text), sa.column("builtin", sa.Boolean),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    now = datetime.now(UTC)
    op.bulk_insert(licenses, [{**entry, "builtin": True, "created_at": now} for entry in catalog])


def downgrade() -> None:
    op.drop_table('dataset_lineage')

    with op.batch_alter_table('stage_transitions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stage_transitions_model_version_id'))
        batch_op.drop_index(batch_op.f('ix_stage_transitions_at'))

    op.drop_table('stage_transitions')
    with op.batch_alter_table('model_datasets', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_datasets_model_version_id'))
        batch_op.drop_index(batch_op.f('ix_model_datasets_dataset_version_id'))

    op.drop_table('model_datasets')
    with op.batch_alter_table('model_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_versions_sha256'))
        batch_op.drop_index(batch_op.f('ix_model_versions_model_id'))
        batch_op.drop_index(batch_op.f('ix_model_versions_base_model_version_id'))

    op.drop_table('model_versions')
    with op.batch_alter_table('dataset_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dataset_versions_sha256'))
        batch_op.drop_index(batch_op.f('ix_dataset_versions_dataset_id'))

    op.drop_table('dataset_versions')
    op.drop_table('models')
    op.drop_table('licenses')
    op.drop_table('datasets')
    op.drop_table('audit_head')
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_entity_id'))
        batch_op.drop_index(batch_op.f('ix_audit_events_at'))
        batch_op.drop_index(batch_op.f('ix_audit_events_action'))

    op.drop_table('audit_events')

