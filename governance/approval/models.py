"""An approval request per model version, and the decisions of distinct approvers on it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.auth.principal import describe
from governance.db import Base, utcnow
from governance.mlmodel.models import ModelVersion

REQUEST_STATUSES = ("pending", "approved", "rejected", "cancelled")
DECISIONS = ("approve", "reject")


class ApprovalRequest(Base):
    __tablename__ = "approval_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    required: Mapped[int] = mapped_column()
    # Ordered approval levels, each a role (from the promotion policy); None: ``required`` approvers.
    levels: Mapped[list[Any] | None] = mapped_column()
    policy_version: Mapped[int | None] = mapped_column()
    requested_by: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()

    model_version: Mapped[ModelVersion] = relationship()
    approvals: Mapped[list[Approval]] = relationship(back_populates="request", order_by="Approval.id")

    def approvers(self) -> list[str]:
        """Who approved with a verified identity (an approval recorded without one does not count)."""
        return [a.approver for a in self.approvals if a.decision == "approve" and a.verification is not None]

    def level_roles(self) -> list[str]:
        """The role each level needs, in order (requests made before levels: one approver each)."""
        return [str(r) for r in self.levels] if self.levels else ["approver"] * self.required

    def to_dict(self) -> dict[str, Any]:
        mv = self.model_version
        return {
            "id": self.id,
            "model": mv.ref,
            "risk_tier": mv.risk_tier,
            "registered_by": mv.registered_by,
            "status": self.status,
            "required": self.required,
            "approved": len(self.approvers()),
            "levels": self.level_roles(),
            "policy_version": self.policy_version,
            "requested_by": self.requested_by,
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
            "decided_at": self.decided_at.isoformat() if self.decided_at else None,
            "decisions": [a.to_dict() for a in self.approvals],
        }


class Approval(Base):
    """One approver's decision; the unique key makes approvers distinct per request."""

    __tablename__ = "approvals"
    __table_args__ = (UniqueConstraint("request_id", "approver"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("approval_requests.id"), index=True)
    approver: Mapped[str] = mapped_column(String(128))
    # the approver's role then, and how their identity was verified (auth.principal); None on decisions
    # recorded before identities were checked, which no longer count towards production
    approver_role: Mapped[str | None] = mapped_column(String(16))
    verification: Mapped[str | None] = mapped_column(String(16))
    decision: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[int | None] = mapped_column()  # 1-based level an approval satisfied
    role: Mapped[str | None] = mapped_column(String(16))  # the approver's role when deciding

    request: Mapped[ApprovalRequest] = relationship(back_populates="approvals")

    def to_dict(self) -> dict[str, Any]:
        return {
            "approver": self.approver,
            "approver_role": self.approver_role,
            "verification": self.verification,
            "approver_label": describe(self.approver, self.approver_role, self.verification),
            "decision": self.decision,
            "level": self.level,
            "role": self.role,
            "comment": self.comment,
            "at": self.at.isoformat(),
        }
