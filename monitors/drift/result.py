"""The data drift engine's results: one verdict per column and the dataset's, a :class:`MonitorResult`.

:meth:`DriftResult.to_dict` keeps every field (the missing-value counts, the sketch's error bound,
the skipped columns, the calibrated preset's settings) and :meth:`DriftResult.from_dict` reads it
back; :meth:`DriftResult.to_compact_dict` is the verdicts alone, the documented shape of
``govern drift --json`` and of a stored run's columns.

>>> column = ColumnDrift("age", "num", "K-S p_value", 0.01, 0.05, True, current_missing=2)
>>> result = DriftResult(columns=(column,), drifted_count=1, drift_share=1.0, dataset_drift=True)
>>> result.status.value, result.summary
('breach', '1 of 1 columns drifted (100%; dataset drift at 50%)')
>>> DriftResult.from_dict(result.to_dict()) == result
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from monitors.result import DerivedResult, Status, Verdict


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict.

    ``approximate`` is true when a sketch beyond its bin budget was used; ``score_error`` then
    bounds how far ``score`` can be from the exact score (NaN where no bound is computed: the
    histogram path of Jensen-Shannon, PSI and KL requested on many-valued columns).
    """

    column: str
    type: str
    method: str
    score: float
    threshold: float
    drift_detected: bool
    reference_missing: int = 0
    current_missing: int = 0
    approximate: bool = False
    score_error: float = 0.0
    p_value: float | None = None  # calibrated preset: the test's p-value (``score`` too)
    p_adjusted: float | None = None  # ... corrected over the columns (Holm or Benjamini-Hochberg)
    effect: Mapping[str, float] | None = None  # ... readable sizes of the change

    def to_compact_dict(self) -> dict[str, Any]:
        """The verdict's fields: the documented shape of ``govern drift --json`` and of a stored run
        (the calibrated preset adds ``p_value``, ``p_adjusted``, ``effect``)."""
        out: dict[str, Any] = {
            "column": self.column,
            "type": self.type,
            "method": self.method,
            "score": self.score,
            "threshold": self.threshold,
            "drift_detected": self.drift_detected,
        }
        if self.p_value is not None:
            out.update(p_value=self.p_value, p_adjusted=self.p_adjusted, effect=dict(self.effect or {}))
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every field; ``score_error`` is None where no bound is computed (NaN)."""
        return {
            **self.to_compact_dict(),
            "reference_missing": self.reference_missing,
            "current_missing": self.current_missing,
            "approximate": self.approximate,
            "score_error": _finite_or_none(self.score_error),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnDrift:
        """The column verdict :meth:`to_dict` wrote."""
        error = data.get("score_error", 0.0)
        effect = data.get("effect")
        return cls(
            column=str(data["column"]),
            type=str(data["type"]),
            method=str(data["method"]),
            score=float(data["score"]),
            threshold=float(data["threshold"]),
            drift_detected=bool(data["drift_detected"]),
            reference_missing=int(data.get("reference_missing", 0)),
            current_missing=int(data.get("current_missing", 0)),
            approximate=bool(data.get("approximate", False)),
            score_error=math.nan if error is None else float(error),
            p_value=None if data.get("p_value") is None else float(data["p_value"]),
            p_adjusted=None if data.get("p_adjusted") is None else float(data["p_adjusted"]),
            effect=None if effect is None else {str(k): float(v) for k, v in effect.items()},
        )


@dataclass(frozen=True, kw_only=True)
class DriftResult(DerivedResult):
    """Every tested column's verdict and the dataset verdict.

    ``skipped`` names columns not tested (text and unknown types); ``*_missing`` on each column
    counts the missing values dropped before testing, as Evidently drops them. The status is
    ``breach`` on dataset drift, ``warning`` when some column is significant (drifted, for the
    Evidently preset), else ``ok``.
    """

    monitor: str = "data_drift"
    columns: tuple[ColumnDrift, ...]
    drifted_count: int
    drift_share: float
    dataset_drift: bool
    drift_share_threshold: float = 0.5
    skipped: tuple[str, ...] = ()
    preset: str = "evidently"
    column_fpr: float | None = None
    family_fpr: float | None = None
    correction: str | None = None

    @property
    def calibrated(self) -> bool:
        return self.column_fpr is not None

    @property
    def significant_count(self) -> int:
        """Columns whose corrected p-value is at most the column false-positive rate (calibrated)."""
        if self.column_fpr is None:
            return self.drifted_count
        limit = self.column_fpr
        return sum(c.p_adjusted is not None and c.p_adjusted <= limit for c in self.columns)

    def verdict(self) -> Verdict:
        status = (
            Status.BREACH if self.dataset_drift else Status.WARNING if self.significant_count else Status.OK
        )
        tested = len(self.columns)
        metrics: dict[str, Any] = {
            "drift_share": self.drift_share,
            "drifted_columns": self.drifted_count,
            "columns": tested,
        }
        if self.calibrated:
            metrics["significant_columns"] = self.significant_count
            metrics["min_p_adjusted"] = min((c.p_adjusted or 1.0 for c in self.columns), default=1.0)
            summary = (
                f"{self.drifted_count} of {tested} columns drifted at p ≤ {self.column_fpr:g}, "
                f"{self.significant_count} after {self.correction} correction; "
                f"{'dataset drift' if self.dataset_drift else 'no dataset drift'} at the "
                f"family-wise false-alarm rate {self.family_fpr:g}"
            )
            thresholds: dict[str, Any] = {
                "column_fpr": self.column_fpr,
                "family_fpr": self.family_fpr,
                "correction": self.correction,
            }
        else:
            summary = (
                f"{self.drifted_count} of {tested} columns drifted "
                f"({self.drift_share:.0%}; dataset drift at {self.drift_share_threshold:.0%})"
            )
            thresholds = {"drift_share": self.drift_share_threshold}
        details = {"columns": [c.to_compact_dict() for c in self.columns], "preset": self.preset}
        return Verdict(status, metrics, thresholds, summary, details)

    def to_compact_dict(self) -> dict[str, Any]:
        """The verdicts: the documented shape of ``govern drift --json`` (the calibrated preset adds
        its rates and ``significant_count``)."""
        out: dict[str, Any] = {
            "columns": [c.to_compact_dict() for c in self.columns],
            "drifted_count": self.drifted_count,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
        }
        if self.preset != "evidently":
            out.update(
                preset=self.preset,
                significant_count=self.significant_count,
                column_fpr=self.column_fpr,
                family_fpr=self.family_fpr,
                correction=self.correction,
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """Every field (``significant_count`` too); :meth:`from_dict` reads it back."""
        return {
            "columns": [c.to_dict() for c in self.columns],
            "drifted_count": self.drifted_count,
            "drift_share": self.drift_share,
            "dataset_drift": self.dataset_drift,
            "drift_share_threshold": self.drift_share_threshold,
            "skipped": list(self.skipped),
            "preset": self.preset,
            "significant_count": self.significant_count,
            "column_fpr": self.column_fpr,
            "family_fpr": self.family_fpr,
            "correction": self.correction,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftResult:
        """The result :meth:`to_dict` wrote (or its JSON)."""

        def number(key: str) -> float | None:
            return None if data.get(key) is None else float(data[key])

        return cls(
            columns=tuple(ColumnDrift.from_dict(c) for c in data["columns"]),
            drifted_count=int(data["drifted_count"]),
            drift_share=float(data["drift_share"]),
            dataset_drift=bool(data["dataset_drift"]),
            drift_share_threshold=float(data.get("drift_share_threshold", 0.5)),
            skipped=tuple(str(s) for s in data.get("skipped", ())),
            preset=str(data.get("preset", "evidently")),
            column_fpr=number("column_fpr"),
            family_fpr=number("family_fpr"),
            correction=None if data.get("correction") is None else str(data["correction"]),
        )
