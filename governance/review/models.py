"""The review queue: what share of a model's production records people review, and the verdicts.

A :class:`ReviewConfig` per model says which records join the queue: a ``share`` drawn by record id
(the same records whichever process samples them) and every record whose top-class probability is
below ``uncertainty_threshold``. A :class:`ReviewItem` is one queued record with what a reviewer
needs to judge it (inputs, prediction, probability) and, once reviewed, the verdict: ``agree``,
``disagree`` with the correct label, or ``unsure``. A verdict's label is a label of the record
(``governance.production`` reads it where no late label arrived).
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.auth.principal import describe
from governance.db import Base, utcnow
from governance.mlmodel.models import Model, ModelVersion

REASONS = ("sampled", "uncertain", "inconsistent")
ITEM_STATUSES = ("open", "reviewed")
VERDICTS = ("agree", "disagree", "unsure")
MAX_REQUEST_ID = 512
MAX_LABEL = 256


class ReviewConfig(Base):
    __tablename__ = "review_configs"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), unique=True)
    share: Mapped[float] = mapped_column()
    uncertainty_threshold: Mapped[float | None] = mapped_column()
    # the sample's secret (hex): drawn once, never shown, so request ids cannot be chosen to avoid review
    sampling_key: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(32))
    updated_by: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.name,
            "share": self.share,
            "uncertainty_threshold": self.uncertainty_threshold,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at.isoformat(),
        }


class ReviewItem(Base):
    """One production record in the queue; reviewed once (a second verdict is refused)."""

    __tablename__ = "review_items"
    __table_args__ = (
        UniqueConstraint("model_version_id", "request_id"),
        Index("ix_review_items_queue", "model_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"))
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"))
    request_id: Mapped[str] = mapped_column(String(MAX_REQUEST_ID))
    record_time: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(String(16))
    # the monitor whose window marked the record (None: sampled when the records were ingested)
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id"))
    inputs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prediction: Mapped[str] = mapped_column(String(MAX_LABEL))
    probability: Mapped[float | None] = mapped_column()  # of the predicted (else the top) class
    probabilities: Mapped[dict[str, Any] | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    verdict: Mapped[str | None] = mapped_column(String(16))
    label: Mapped[str | None] = mapped_column(String(MAX_LABEL))  # the record's label the verdict gives
    comment: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str | None] = mapped_column(String(128))
    reviewer_role: Mapped[str | None] = mapped_column(String(16))
    verification: Mapped[str | None] = mapped_column(String(16))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship()
    model_version: Mapped[ModelVersion] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model.name,
            "model_version": self.model_version.ref,
            "request_id": self.request_id,
            "record_time": self.record_time.isoformat() if self.record_time else None,
            "reason": self.reason,
            "monitor_id": self.monitor_id,
            "inputs": self.inputs,
            "prediction": self.prediction,
            "probability": self.probability,
            "probabilities": self.probabilities,
            "status": self.status,
            "verdict": self.verdict,
            "label": self.label,
            "comment": self.comment,
            "reviewer": self.reviewer,
            "reviewer_role": self.reviewer_role,
            "verification": self.verification,
            "reviewer_label": describe(self.reviewer, self.reviewer_role, self.verification)
            if self.reviewer
            else None,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "created_at": self.created_at.isoformat(),
        }
