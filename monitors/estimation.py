"""Performance estimated before labels arrive: confidence-based performance estimation (CBPE).

A classifier's probabilities, once calibrated, say how often it is right: a row predicted ``k``
with calibrated probability 0.8 for ``k`` is a true positive 80 % of the time. Summing those
expectations over a chunk gives its expected confusion matrix, and from it the expected accuracy,
precision, recall and F1 (macro-averaged over classes for multiclass), and the expected ROC-AUC
(the ROC curve traced with the calibrated probabilities as expected labels, one-vs-rest macro for
multiclass). This is NannyML's CBPE:

1. on the reference (labels known), fit an isotonic calibrator per class: ``P(y = k | proba_k)``;
2. on each analysis chunk, calibrate (rows renormalised to sum to 1) and compute the expected metrics;
3. the band ``lower``/``upper`` is the estimate +/- 3 sampling standard deviations, the spread of
   the realized metric over bootstrap samples of the reference at the chunk's size.

Probability columns are ``proba_<class>`` (the production records' convention); the prediction
column holds the predicted class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from governance.errors import InvalidInput

PREFIX = "proba_"
METRICS = ("roc_auc", "accuracy", "f1", "precision", "recall")
SUM_TOLERANCE = 1e-3
BAND_SDS = 3.0
BOOTSTRAP_DRAWS = 100


@dataclass(frozen=True)
class Chunk:
    """One chunk's estimate, band and (when the analysis rows have labels) realized metrics."""

    key: str
    start: int
    rows: int
    estimated: dict[str, float]
    lower: dict[str, float]
    upper: dict[str, float]
    realized: dict[str, float] | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: an undefined metric (NaN, e.g. ROC-AUC of a chunk with one class) is None."""
        return {
            "key": self.key,
            "start": self.start,
            "rows": self.rows,
            "estimated": _finite(self.estimated),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "realized": _finite(self.realized) if self.realized is not None else None,
        }


def _finite(values: dict[str, float]) -> dict[str, float | None]:
    return {k: (v if np.isfinite(v) else None) for k, v in values.items()}


@dataclass(frozen=True)
class Estimate:
    classes: tuple[str, ...]
    metrics: tuple[str, ...]
    chunks: tuple[Chunk, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "classes": list(self.classes),
            "metrics": list(self.metrics),
            "chunks": [c.to_dict() for c in self.chunks],
        }


# -- the metrics ------------------------------------------------------------------------------------
def _expected_auc(score: np.ndarray, p: np.ndarray) -> float:
    """The ROC-AUC expected when row ``i`` is positive with probability ``p[i]``, ranked by ``score``."""
    order = np.argsort(-score, kind="stable")
    s, pos = score[order], p[order]
    neg = 1.0 - pos
    total_pos, total_neg = pos.sum(), neg.sum()
    if total_pos <= 0 or total_neg <= 0:
        return float("nan")
    last = np.r_[s[1:] != s[:-1], True]  # ties step together
    tpr = np.r_[0.0, np.cumsum(pos)[last] / total_pos]
    fpr = np.r_[0.0, np.cumsum(neg)[last] / total_neg]
    return float(np.trapezoid(tpr, fpr))


def _from_confusion(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> dict[str, float]:
    """Macro precision, recall and F1 from per-class (expected) counts."""
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return {"precision": float(precision.mean()), "recall": float(recall.mean()), "f1": float(f1.mean())}


def _positives(n_classes: int) -> list[int]:
    """Binary metrics are about the second class (the positive one); multiclass ones macro over all."""
    return [1] if n_classes == 2 else list(range(n_classes))


def expected_metrics(
    scores: np.ndarray, calibrated: np.ndarray, predicted: np.ndarray, metrics: Sequence[str]
) -> dict[str, float]:
    """Expected metrics of one chunk: ``scores`` the model's probabilities, ``calibrated`` their
    calibrated version (rows sum to 1), ``predicted`` the predicted class indices."""
    n, k = calibrated.shape
    classes = _positives(k)
    out: dict[str, float] = {}
    if "accuracy" in metrics:
        out["accuracy"] = float(calibrated[np.arange(n), predicted].mean())
    if {"precision", "recall", "f1"} & set(metrics):
        tp = np.array([calibrated[predicted == c, c].sum() for c in classes])
        fp = np.array([(1 - calibrated[predicted == c, c]).sum() for c in classes])
        fn = np.array([calibrated[predicted != c, c].sum() for c in classes])
        out.update({m: v for m, v in _from_confusion(tp, fp, fn).items() if m in metrics})
    if "roc_auc" in metrics:
        aucs = [_expected_auc(scores[:, c], calibrated[:, c]) for c in classes]
        # classes that never (or always) occur in the chunk have no ROC curve: macro over the rest
        defined = [a for a in aucs if not np.isnan(a)]
        out["roc_auc"] = float(np.mean(defined)) if defined else float("nan")
    return {m: out[m] for m in metrics}


def realized_metrics(
    scores: np.ndarray, truth: np.ndarray, predicted: np.ndarray, metrics: Sequence[str]
) -> dict[str, float]:
    """The same metrics from the labels (truth as class indices): the one-hot truth as "calibrated"."""
    onehot = np.zeros_like(scores)
    onehot[np.arange(len(truth)), truth] = 1.0
    return expected_metrics(scores, onehot, predicted, metrics)


# -- the estimator ----------------------------------------------------------------------------------
def probability_columns(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if str(c).startswith(PREFIX)]


def _probabilities(frame: pd.DataFrame, columns: list[str], side: str) -> np.ndarray:
    try:
        p = frame[columns].to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"the {side} probability columns are not all numbers") from None
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise InvalidInput(f"the {side} data has probabilities outside [0, 1] (or missing)")
    sums = p.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1.0) > SUM_TOLERANCE)
    if bad.size:
        raise InvalidInput(
            f"the {side} data has {bad.size} rows whose probabilities do not sum to 1 "
            f"(row {int(bad[0])} sums to {sums[bad[0]]:.6g})"
        )
    return p


def _indices(values: pd.Series, classes: list[str], side: str, what: str) -> np.ndarray:
    lookup = {c: i for i, c in enumerate(classes)}
    text = values.map(_class_text)
    unknown = sorted(set(text) - set(lookup))
    if unknown:
        raise InvalidInput(
            f"the {side} {what} has class {unknown[0]!r}, which has no {PREFIX}{unknown[0]} column"
        )
    return text.map(lookup).to_numpy(dtype=np.int64)


def _class_text(value: Any) -> str:
    """Class labels compared as text; 1.0 read from a CSV is class 1."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass
class CBPE:
    """Confidence-based performance estimation, scikit-learn style: ``fit(reference)``, ``estimate(analysis)``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p1 = rng.uniform(size=4000)
    >>> frame = pd.DataFrame({"proba_0": 1 - p1, "proba_1": p1, "y_pred": (p1 > 0.5).astype(int)})
    >>> frame["y"] = (rng.uniform(size=4000) < p1).astype(int)
    >>> est = CBPE(label="y", prediction="y_pred", metrics=("accuracy",)).fit(frame.iloc[:2000])
    >>> chunk = est.estimate(frame.iloc[2000:], chunk_size=2000).chunks[0]
    >>> round(chunk.estimated["accuracy"], 2), round(chunk.realized["accuracy"], 2)
    (0.75, 0.73)
    >>> chunk.lower["accuracy"] <= chunk.realized["accuracy"] <= chunk.upper["accuracy"]
    True
    """

    label: str
    prediction: str
    metrics: tuple[str, ...] = METRICS
    seed: int = 0

    def fit(self, reference: pd.DataFrame) -> CBPE:
        from sklearn.isotonic import IsotonicRegression

        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown or not self.metrics:
            raise InvalidInput(
                f"unknown metric {unknown[0] if unknown else ''!r}; choose from {', '.join(METRICS)}"
            )
        self.columns_ = probability_columns(reference)
        if len(self.columns_) < 2:
            raise InvalidInput(f"the reference has no {PREFIX}<class> columns for at least two classes")
        for column in (self.label, self.prediction):
            if column not in reference.columns:
                raise InvalidInput(f"the reference has no column {column!r}")
        if reference[self.label].isna().any():
            raise InvalidInput(f"the reference has rows without a label in {self.label!r}")
        self.classes_ = [c[len(PREFIX) :] for c in self.columns_]
        scores = _probabilities(reference, self.columns_, "reference")
        truth = _indices(reference[self.label], self.classes_, "reference", "label")
        self.calibrators_ = [
            IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores[:, k], truth == k)
            for k in range(len(self.classes_))
        ]
        self.reference_scores_ = scores
        self.reference_truth_ = truth
        self.reference_predicted_ = _indices(
            reference[self.prediction], self.classes_, "reference", "prediction"
        )
        self._spread: dict[int, dict[str, float]] = {}
        return self

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        out = np.column_stack([cal.predict(scores[:, k]) for k, cal in enumerate(self.calibrators_)])
        sums = out.sum(axis=1, keepdims=True)
        return np.where(sums > 0, out / np.where(sums > 0, sums, 1.0), 1.0 / out.shape[1])

    def sampling_sd(self, rows: int) -> dict[str, float]:
        """The realized metrics' standard deviation over bootstrap samples of ``rows`` reference rows."""
        if rows not in self._spread:
            rng = np.random.default_rng(self.seed)
            n = len(self.reference_truth_)
            draws = []
            for _ in range(BOOTSTRAP_DRAWS):
                i = rng.integers(0, n, size=rows)
                draws.append(
                    realized_metrics(
                        self.reference_scores_[i],
                        self.reference_truth_[i],
                        self.reference_predicted_[i],
                        self.metrics,
                    )
                )
            self._spread[rows] = {m: float(np.nanstd([d[m] for d in draws], ddof=1)) for m in self.metrics}
        return self._spread[rows]

    def estimate(
        self,
        analysis: pd.DataFrame,
        *,
        chunk_size: int | None = None,
        time_column: str | None = None,
        freq: str | None = None,
    ) -> Estimate:
        """Expected metrics per chunk of ``analysis`` (``chunk_size`` rows, or periods of ``time_column``)."""
        missing = [c for c in [*self.columns_, self.prediction] if c not in analysis.columns]
        if missing:
            raise InvalidInput(f"the analysis data has no column {missing[0]!r}, which the reference has")
        scores = _probabilities(analysis, self.columns_, "analysis")
        predicted = _indices(analysis[self.prediction], self.classes_, "analysis", "prediction")
        has_labels = self.label in analysis.columns
        chunks = []
        for key, start, rows in _chunks(analysis, chunk_size, time_column, freq):
            part = slice(start, start + rows)
            estimated = expected_metrics(
                scores[part], self.calibrate(scores[part]), predicted[part], self.metrics
            )
            sd = self.sampling_sd(rows)
            realized = None
            labels = analysis[self.label].iloc[part] if has_labels else None
            if labels is not None and labels.notna().all():
                truth = _indices(labels, self.classes_, "analysis", "label")
                realized = realized_metrics(scores[part], truth, predicted[part], self.metrics)
            chunks.append(
                Chunk(
                    key,
                    start,
                    rows,
                    estimated,
                    {m: max(0.0, v - BAND_SDS * sd[m]) for m, v in estimated.items()},
                    {m: min(1.0, v + BAND_SDS * sd[m]) for m, v in estimated.items()},
                    realized,
                )
            )
        return Estimate(tuple(self.classes_), tuple(self.metrics), tuple(chunks))


def _chunks(
    frame: pd.DataFrame, chunk_size: int | None, time_column: str | None, freq: str | None
) -> list[tuple[str, int, int]]:
    """``(key, first row, rows)`` per chunk, in row order."""
    if (chunk_size is None) == (time_column is None):
        raise InvalidInput("give either a chunk size or a time column with a frequency")
    if chunk_size is not None:
        if chunk_size < 1:
            raise InvalidInput(f"the chunk size must be at least 1, not {chunk_size}")
        if len(frame) < chunk_size:
            raise InvalidInput(
                f"the analysis data has {len(frame)} rows, fewer than one chunk of {chunk_size}"
            )
        full = len(frame) // chunk_size  # the last partial chunk is left out, as NannyML does
        return [
            (f"[{i * chunk_size}:{(i + 1) * chunk_size - 1}]", i * chunk_size, chunk_size)
            for i in range(full)
        ]
    assert time_column is not None
    if time_column not in frame.columns:
        raise InvalidInput(f"the analysis data has no time column {time_column!r}")
    times = pd.to_datetime(frame[time_column], errors="coerce", utc=True)
    if times.isna().any():
        raise InvalidInput(f"the time column {time_column!r} has values that are not times")
    if not times.is_monotonic_increasing:
        raise InvalidInput(f"the analysis rows are not in order of {time_column!r}")
    try:
        periods = times.dt.tz_localize(None).dt.to_period(freq or "D")
    except ValueError:
        raise InvalidInput(f"{freq!r} is not a frequency pandas knows (e.g. 1D, 1W, 1h)") from None
    change = np.r_[True, periods.to_numpy()[1:] != periods.to_numpy()[:-1]]
    starts = np.flatnonzero(change)
    ends = np.r_[starts[1:], len(frame)]
    return [(str(periods.iloc[s]), int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


__all__ = ["CBPE", "METRICS", "Chunk", "Estimate", "expected_metrics", "realized_metrics"]
