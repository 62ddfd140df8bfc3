"""A model's predetermined change plan (versioned) and each retrain's check against it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.db import Base, utcnow
from governance.mlmodel.models import Model, ModelVersion


class ChangePlan(Base):
    """One version of a model's change plan; the newest is in force, older ones stay as evidence."""

    __tablename__ = "change_plans"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[int] = mapped_column()
    document: Mapped[dict[str, Any]] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "version": self.version,
            **self.document,
            "comment": self.comment,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class ChangePlanCheck(Base):
    """Whether the retrain that made a candidate stayed inside the change plan it ran under."""

    __tablename__ = "change_plan_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), unique=True)
    retrain_job_id: Mapped[int | None] = mapped_column(ForeignKey("retrain_jobs.id"), index=True)
    plan_version: Mapped[int] = mapped_column()
    within: Mapped[bool] = mapped_column()
    deviations: Mapped[list[Any]] = mapped_column(default=list)
    at: Mapped[datetime] = mapped_column(default=utcnow)

    model_version: Mapped[ModelVersion] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_version.ref,
            "retrain_job": self.retrain_job_id,
            "plan_version": self.plan_version,
            "within": self.within,
            "deviations": list(self.deviations or []),
            "at": self.at.isoformat(),
        }
