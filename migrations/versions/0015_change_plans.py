"""change plans (a model's predetermined retrain plan, versioned) and each retrain's check against it

Revision ID: 0015
Revises: 0005
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "change_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_change_plans_model_id_models")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_plans")),
        sa.UniqueConstraint("model_id", "version", name=op.f("uq_change_plans_model_id_version")),
    )
    with op.batch_alter_table("change_plans", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_change_plans_model_id"), ["model_id"], unique=False)

    op.create_table(
        "change_plan_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("retrain_job_id", sa.Integer(), nullable=True),
        sa.Column("plan_version", sa.Integer(), nullable=False),
        sa.Column("within", sa.Boolean(), nullable=False),
        sa.Column("deviations", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_change_plan_checks_model_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["retrain_job_id"],
            ["retrain_jobs.id"],
            name=op.f("fk_change_plan_checks_retrain_job_id_retrain_jobs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_change_plan_checks")),
        sa.UniqueConstraint("model_version_id", name=op.f("uq_change_plan_checks_model_version_id")),
    )
    with op.batch_alter_table("change_plan_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_change_plan_checks_retrain_job_id"), ["retrain_job_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("change_plan_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_plan_checks_retrain_job_id"))
    op.drop_table("change_plan_checks")
    with op.batch_alter_table("change_plans", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_change_plans_model_id"))
    op.drop_table("change_plans")
