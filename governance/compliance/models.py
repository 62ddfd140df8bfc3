"""The stored verdict of each model version's compliance walk, so lists and pages never walk."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base, utcnow


class ComplianceResult(Base):
    """``compliance.service.check`` of one version as of ``computed_at`` (see ``compliance.cache``)."""

    __tablename__ = "compliance_results"

    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), primary_key=True)
    compliant: Mapped[bool] = mapped_column()
    violations: Mapped[int] = mapped_column()
    warnings: Mapped[int] = mapped_column()
    obligations: Mapped[int] = mapped_column()
    report: Mapped[dict[str, Any]] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)
