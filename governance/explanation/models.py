"""A model version's global attributions (mean absolute attribution per input feature)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.dataset.models import DatasetVersion
from governance.db import Base, utcnow
from governance.mlmodel.models import ModelVersion

METHOD_NAMES = {"ig": "Integrated Gradients (Captum)", "ablation": "feature ablation (Captum)"}


class ModelExplanation(Base):
    """The global attributions of one model version over a sample of a dataset it was trained on.

    ``attributions`` maps each feature to its mean absolute attribution (Captum: Integrated
    Gradients from the data's mean, or feature ablation), in the model's input order.
    """

    __tablename__ = "model_explanations"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    dataset_version_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"))
    method: Mapped[str] = mapped_column(String(16))
    baseline: Mapped[str] = mapped_column(String(64))
    n_rows: Mapped[int] = mapped_column()
    attributions: Mapped[dict[str, Any]] = mapped_column()
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    seconds: Mapped[float] = mapped_column()
    source: Mapped[str] = mapped_column(String(128))
    recorded_by: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    model_version: Mapped[ModelVersion] = relationship()
    dataset_version: Mapped[DatasetVersion | None] = relationship()

    def ranking(self) -> list[tuple[str, float]]:
        """(feature, attribution), most important first (ties keep the input order)."""
        items = list(self.attributions.items())
        order = sorted(range(len(items)), key=lambda i: (-float(items[i][1]), i))
        return [(str(items[i][0]), float(items[i][1])) for i in order]

    def top(self, k: int = 10) -> list[dict[str, Any]]:
        """The ``k`` features the model relies on most, each with its share of the total attribution."""
        ranked = self.ranking()
        largest = ranked[0][1] if ranked and ranked[0][1] > 0 else 1.0
        total = math.fsum(v / largest for _, v in ranked) or 1.0  # scaled: huge values cannot overflow
        return [{"feature": n, "attribution": v, "share": v / largest / total} for n, v in ranked[:k]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model_version.ref,
            "dataset": self.dataset_version.ref if self.dataset_version is not None else None,
            "method": self.method,
            "method_name": METHOD_NAMES.get(self.method, self.method),
            "baseline": self.baseline,
            "n_rows": self.n_rows,
            "attributions": dict(self.attributions),
            "top": self.top(),
            "warnings": list(self.warnings or []),
            "seconds": self.seconds,
            "source": self.source,
            "recorded_by": self.recorded_by,
            "at": self.at.isoformat(),
        }
