"""review queue: per-model review configuration and queued production records with their verdicts

Revision ID: 0019
Revises: 0014
Create Date: 2026-12-20 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "review_configs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("share", sa.Double(), nullable=False),
        sa.Column("uncertainty_threshold", sa.Double(), nullable=True),
        sa.Column("sampling_key", sa.String(length=64), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_review_configs_model_id_models")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_configs")),
        sa.UniqueConstraint("model_id", name=op.f("uq_review_configs_model_id")),
    )
    op.create_table(
        "review_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.String(length=512), nullable=False),
        sa.Column("record_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("monitor_id", sa.Integer(), nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("prediction", sa.String(length=256), nullable=False),
        sa.Column("probability", sa.Double(), nullable=True),
        sa.Column("probabilities", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=True),
        sa.Column("label", sa.String(length=256), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("reviewer", sa.String(length=128), nullable=True),
        sa.Column("reviewer_role", sa.String(length=16), nullable=True),
        sa.Column("verification", sa.String(length=16), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_review_items_model_id_models")),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_review_items_model_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["monitor_id"], ["monitors.id"], name=op.f("fk_review_items_monitor_id_monitors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_items")),
        sa.UniqueConstraint(
            "model_version_id", "request_id", name=op.f("uq_review_items_model_version_id_request_id")
        ),
    )
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.create_index("ix_review_items_queue", ["model_id", "status", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_review_items_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("review_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_review_items_status"))
        batch_op.drop_index("ix_review_items_queue")
    op.drop_table("review_items")
    op.drop_table("review_configs")
