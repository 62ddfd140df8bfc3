"""Versions of the promotion policy, requested changes of a model version's risk tier, and
recorded robustness assessments (evidence the policy reads)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.db import Base, utcnow
from governance.mlmodel.models import ModelVersion

RISK_CHANGE_STATUSES = ("pending", "applied", "rejected")


class PolicyVersion(Base):
    """One version of the promotion policy; the newest is in force, older ones stay as evidence."""

    __tablename__ = "policy_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[int] = mapped_column(unique=True)
    document: Mapped[dict[str, Any]] = mapped_column()
    comment: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "tiers": self.document["tiers"],
            "comment": self.comment,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class RiskChange(Base):
    """A change of a version's risk tier: a raise is applied at once, a lowering waits for approval."""

    __tablename__ = "risk_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    from_tier: Mapped[str] = mapped_column(String(8))
    to_tier: Mapped[str] = mapped_column(String(8))
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    requested_by: Mapped[str] = mapped_column(String(128))
    decided_by: Mapped[str | None] = mapped_column(String(128))
    decision_comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()

    model_version: Mapped[ModelVersion] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model_version.ref,
            "from": self.from_tier,
            "to": self.to_tier,
            "reason": self.reason,
            "status": self.status,
            "requested_by": self.requested_by,
            "decided_by": self.decided_by,
            "decision_comment": self.decision_comment,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
        }


class RobustnessRecord(Base):
    """A robustness assessment of one model version: worst-case robust accuracy at ``epsilon``."""

    __tablename__ = "robustness_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    epsilon: Mapped[float] = mapped_column()
    robust_accuracy: Mapped[float] = mapped_column()
    clean_accuracy: Mapped[float | None] = mapped_column()
    source: Mapped[str] = mapped_column(String(128))
    recorded_by: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    model_version: Mapped[ModelVersion] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model_version.ref,
            "epsilon": self.epsilon,
            "robust_accuracy": self.robust_accuracy,
            "clean_accuracy": self.clean_accuracy,
            "source": self.source,
            "recorded_by": self.recorded_by,
            "at": self.at.isoformat(),
        }
