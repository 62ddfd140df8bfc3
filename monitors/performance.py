"""Concept drift seen through performance: a window's metrics against the validation baseline.

Classification windows are scored by accuracy, F1 and (given scores) ROC-AUC; regression windows by
MAE and RMSE. Every metric comes with a percentile bootstrap confidence interval, and
:func:`assess_performance` calls a breach only when the drop is both large and outside the
interval, and a warning only when the drop is beyond what the window's size (and, when known, the
baseline's) explains at the warning false-positive rate, so that noise alone rarely raises either.

>>> import numpy as np
>>> y = np.array([0, 1] * 50)
>>> metrics = window_metrics(y, y, task="classification", n_boot=50)
>>> metrics.values["accuracy"].value
1.0
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.stats import norm, rankdata

from governance.errors import InvalidInput
from monitors.result import MonitorResult, Status, to_jsonable, worst_status

logger = logging.getLogger(__name__)

Task = Literal["classification", "regression"]
TASKS: tuple[Task, ...] = ("classification", "regression")
_BOOT_CELLS = 4_000_000
HIGHER_IS_BETTER = {"accuracy": True, "f1": True, "roc_auc": True, "mae": False, "rmse": False}


@dataclass(frozen=True)
class MetricEstimate:
    """A metric on one window with its bootstrap confidence interval (NaN where undefined)."""

    value: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict[str, Any]:
        return {"value": to_jsonable(self.value), "ci": to_jsonable([self.ci_low, self.ci_high])}


@dataclass(frozen=True)
class WindowMetrics:
    """The metrics of one window.

    Attributes
    ----------
    n : int
        Labelled rows in the window.
    values : dict of str to MetricEstimate
        ``accuracy``, ``f1`` and ``roc_auc`` (with scores), or ``mae`` and ``rmse``.
    confidence : float
        The confidence level of the intervals.
    """

    n: int
    values: dict[str, MetricEstimate]
    confidence: float = 0.95

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"n": self.n}
        for name, estimate in self.values.items():
            data[name] = to_jsonable(estimate.value)
            data[f"{name}_ci"] = to_jsonable([estimate.ci_low, estimate.ci_high])
        return data


@dataclass(frozen=True)
class Window:
    """One slice of a frame: rows ``[start, end)`` of a count window, or a time window's bounds."""

    index: int
    start: Any
    end: Any
    frame: pd.DataFrame

    @property
    def label(self) -> str:
        if isinstance(self.start, pd.Timestamp):
            return self.start.isoformat()
        return f"{self.start}-{self.end}"


def _is_binary(labels: np.ndarray) -> bool:
    present = set(np.unique(labels).tolist())
    return present <= {0, 1} or present <= {False, True}


def _f1(truth: np.ndarray, pred: np.ndarray, binary: bool) -> np.ndarray:
    """F1 of each row of ``truth``/``pred`` (resamples): positive class 1, or the macro average over
    the classes present in that row (as scikit-learn's ``f1_score`` with ``zero_division=0``)."""
    classes = [1] if binary else np.unique(np.concatenate([truth.ravel(), pred.ravel()])).tolist()
    scores = np.zeros((truth.shape[0], len(classes)))
    present = np.zeros_like(scores, dtype=bool)
    for k, c in enumerate(classes):
        is_true, is_pred = truth == c, pred == c
        tp = (is_true & is_pred).sum(axis=1)
        denominator = 2 * tp + (is_pred & ~is_true).sum(axis=1) + (is_true & ~is_pred).sum(axis=1)
        present[:, k] = denominator > 0
        scores[:, k] = np.divide(2 * tp, denominator, out=np.zeros(len(tp)), where=denominator > 0)
    if binary:
        return scores[:, 0]
    counted = present.sum(axis=1)
    return np.divide((scores * present).sum(axis=1), counted, out=np.zeros(len(counted)), where=counted > 0)


def _binary_auc(positive: np.ndarray, score: np.ndarray) -> np.ndarray:
    """ROC-AUC of each row through the Mann-Whitney statistic (ties count half); NaN for one class."""
    ranks = rankdata(score, axis=1)
    n_pos = positive.sum(axis=1).astype(np.float64)
    n_neg = positive.shape[1] - n_pos
    u = (ranks * positive).sum(axis=1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def _auc(truth: np.ndarray, score: np.ndarray, positive: Any) -> np.ndarray:
    """ROC-AUC of each row of ``truth`` (rows, n): from scores (rows, n) for the ``positive`` class,
    or (rows, n, k) with one column per class index (the second column alone when k is 2, else the
    macro average of the one-vs-rest AUCs, classes absent from a row skipped)."""
    if score.ndim == 2:
        return _binary_auc(truth == positive, score)
    if score.shape[2] == 2:
        return _binary_auc(truth == 1, score[:, :, 1])
    per_class = np.stack([_binary_auc(truth == c, score[:, :, c]) for c in range(score.shape[2])], axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(per_class, axis=1)


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    finite = samples[np.isfinite(samples)]
    if len(finite) == 0:
        return float("nan"), float("nan")
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(finite, [tail, 100.0 - tail])
    return float(low), float(high)


def _as_array(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim == 0:
        raise InvalidInput(f"{name} must be a sequence, not a scalar.")
    return array


def window_metrics(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    y_score: Sequence[Any] | np.ndarray | None = None,
    *,
    task: Task,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
) -> WindowMetrics:
    """The metrics of one labelled window with percentile bootstrap confidence intervals.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
        Labels and predictions (class labels for classification, numbers for regression).
    y_score : array-like of shape (n,) or (n, n_classes), optional
        Scores for ROC-AUC: the positive class's score (class 1 for 0/1 labels, otherwise the
        greatest label), or one column per class index ``0..k-1``.
    task : {"classification", "regression"}
    n_boot : int
        Bootstrap resamples (0 for no intervals: they are then NaN).
    seed : int
        Seed of the resampling.
    confidence : float
        Confidence level of the intervals.

    Returns
    -------
    WindowMetrics
    """
    if task not in TASKS:
        raise InvalidInput(f"task {task!r} is not one of {', '.join(TASKS)}.")
    truth = _as_array(y_true, "y_true")
    pred = _as_array(y_pred, "y_pred")
    if len(truth) != len(pred):
        raise InvalidInput(f"y_true has {len(truth)} values but y_pred has {len(pred)}.")
    if len(truth) == 0:
        raise InvalidInput("the window has no labelled rows.")
    score = None if y_score is None else _as_array(y_score, "y_score")
    if score is not None and len(score) != len(truth):
        raise InvalidInput(f"y_true has {len(truth)} values but y_score has {len(score)}.")
    n = len(truth)
    values: dict[str, MetricEstimate] = {}

    def estimate(point: float, metric: Callable[[np.ndarray], np.ndarray]) -> MetricEstimate:
        # The same resamples for every metric (one seeded generator each time), drawn in chunks of
        # at most _BOOT_CELLS indices so that a large window does not fill the memory.
        rng = np.random.default_rng(seed)
        per_chunk = max(1, _BOOT_CELLS // n)
        samples = [
            metric(rng.integers(0, n, size=(min(per_chunk, n_boot - done), n)))
            for done in range(0, n_boot, per_chunk)
        ]
        if not samples:
            return MetricEstimate(float(point), float("nan"), float("nan"))
        low, high = _interval(np.concatenate(samples), confidence)
        return MetricEstimate(float(point), low, high)

    if task == "classification":
        correct = (truth == pred).astype(np.float64)
        values["accuracy"] = estimate(correct.mean(), lambda i: correct[i].mean(axis=1))
        binary = _is_binary(np.concatenate([truth, pred]))
        point_f1 = _f1(truth[np.newaxis], pred[np.newaxis], binary)[0]
        values["f1"] = estimate(point_f1, lambda i: _f1(truth[i], pred[i], binary))
        if score is not None:
            score = score.astype(np.float64)
            if score.ndim == 2 and score.shape[1] == 1:
                score = score[:, 0]
            positive = 1 if binary else np.unique(truth).max()
            scores = score
            point_auc = _auc(truth[np.newaxis], scores[np.newaxis], positive)[0]
            values["roc_auc"] = estimate(point_auc, lambda i: _auc(truth[i], scores[i], positive))
    else:
        try:
            error = pred.astype(np.float64) - truth.astype(np.float64)
        except ValueError as exc:
            raise InvalidInput(f"regression labels and predictions must be numbers: {exc}.") from exc
        absolute, squared = np.abs(error), error**2
        values["mae"] = estimate(absolute.mean(), lambda i: absolute[i].mean(axis=1))
        values["rmse"] = estimate(np.sqrt(squared.mean()), lambda i: np.sqrt(squared[i].mean(axis=1)))
    return WindowMetrics(n=n, values=values, confidence=confidence)


def _per_metric(value: float | Mapping[str, float], metric: str, name: str) -> float:
    if isinstance(value, Mapping):
        if metric not in value:
            raise InvalidInput(f"{name} has no entry for metric {metric!r}.")
        return float(value[metric])
    return float(value)


def assess_performance(
    y_true: Sequence[Any] | np.ndarray,
    y_pred: Sequence[Any] | np.ndarray,
    y_score: Sequence[Any] | np.ndarray | None = None,
    *,
    task: Task = "classification",
    baseline: Mapping[str, float],
    max_drop: float | Mapping[str, float] = 0.05,
    warn_drop: float | Mapping[str, float] = 0.02,
    n_boot: int = 200,
    seed: int = 0,
    confidence: float = 0.95,
    warn_fpr: float = 0.05,
    baseline_rows: int | None = None,
) -> MonitorResult:
    """Hold one window's metrics against the model's validation baseline.

    The rule, for each metric named in ``baseline`` that the window has (a "drop" is the
    degradation: ``baseline - value`` for accuracy, F1 and ROC-AUC, ``value - baseline`` for MAE
    and RMSE, in the metric's own units):

    * **breach** when the drop exceeds ``max_drop`` *and* the bootstrap interval lies entirely on
      the worse side of the baseline (upper bound below it; for errors, lower bound above it;
      with ``baseline_rows``, the interval widened by the baseline's error);
    * **warning** when the drop exceeds ``warn_drop`` and is significant at ``warn_fpr``: larger
      than ``z(1 - warn_fpr)`` standard errors of the drop (the bootstrap's, widened by the
      baseline's own when ``baseline_rows`` is known), so a clean window warns at most about
      ``warn_fpr`` of the time whatever its size (including a large drop whose interval still
      reaches the baseline);
    * **ok** otherwise. The window's status is the worst of its metrics.

    Parameters
    ----------
    y_true, y_pred, y_score
        As in :func:`window_metrics`.
    task : {"classification", "regression"}
    baseline : mapping of str to float
        Validation metrics, e.g. ``{"accuracy": 0.95, "f1": 0.94}``; metrics not named are reported
        but not judged.
    max_drop, warn_drop : float or mapping of str to float
        Absolute drops, one for all metrics or one per metric.
    n_boot, seed, confidence
        Of the bootstrap.
    warn_fpr : float
        The warning's one-sided false-positive rate on a window of the baseline's distribution.
    baseline_rows : int, optional
        Rows the baseline was measured on (the validation set): its sampling error is then added
        to the window's (variance ``n_window / baseline_rows`` times the window's), otherwise the
        baseline counts as exact.

    Returns
    -------
    MonitorResult
        ``metrics``: each metric, its ``_ci_low``, ``_ci_high`` and ``_drop``, and ``n``;
        ``thresholds``: ``baseline_<metric>``, ``max_drop_<metric>``, ``warn_drop_<metric>``,
        ``warn_fpr`` (and ``baseline_rows`` when given); ``details["per_metric"]``: each judged
        metric's status.
    """
    if not baseline:
        raise InvalidInput("the baseline names no metric.")
    if not 0 < warn_fpr < 0.5:
        raise InvalidInput(f"warning false-positive rate {warn_fpr} is not in (0, 0.5).")
    if baseline_rows is not None and baseline_rows < 1:
        raise InvalidInput(f"baseline rows {baseline_rows} is not positive.")
    window = window_metrics(
        y_true, y_pred, y_score, task=task, n_boot=n_boot, seed=seed, confidence=confidence
    )
    unknown = [m for m in baseline if m not in HIGHER_IS_BETTER]
    if unknown:
        raise InvalidInput(f"baseline metric {unknown[0]!r} is not one of {', '.join(HIGHER_IS_BETTER)}.")
    metrics: dict[str, float] = {"n": float(window.n)}
    thresholds: dict[str, float] = {"warn_fpr": warn_fpr}
    if baseline_rows is not None:
        thresholds["baseline_rows"] = float(baseline_rows)
    # Standard errors from the bootstrap interval's width; the baseline's variance, measured on
    # ``baseline_rows`` rows of the same distribution, is the window's scaled by n / baseline_rows.
    widen = math.sqrt(1.0 + window.n / baseline_rows) if baseline_rows else 1.0
    interval_z = float(norm.ppf(0.5 + confidence / 2))
    warn_z = float(norm.ppf(1.0 - warn_fpr))
    per_metric: dict[str, Status] = {}
    lines: dict[str, str] = {}
    for name, est in window.values.items():
        metrics[name] = est.value
        metrics[f"{name}_ci_low"] = est.ci_low
        metrics[f"{name}_ci_high"] = est.ci_high
        if name not in baseline:
            continue
        base = float(baseline[name])
        stop, warn = _per_metric(max_drop, name, "max_drop"), _per_metric(warn_drop, name, "warn_drop")
        higher = HIGHER_IS_BETTER[name]
        drop = base - est.value if higher else est.value - base
        outside = est.ci_high < base if higher else est.ci_low > base
        metrics[f"{name}_drop"] = drop
        spread = widen * (est.ci_high - est.ci_low) / (2.0 * interval_z)
        significant = bool(drop > warn_z * spread) if np.isfinite(spread) else True
        if baseline_rows:  # the interval widened by the baseline's error, about the estimate
            outside = bool(drop > interval_z * spread) if np.isfinite(spread) else outside
        thresholds.update({f"baseline_{name}": base, f"max_drop_{name}": stop, f"warn_drop_{name}": warn})
        status: Status
        if np.isnan(drop):
            status = Status.OK
        elif drop > stop and outside:
            status = Status.BREACH
        elif drop > warn and significant:
            status = Status.WARNING
        else:
            status = Status.OK
        per_metric[name] = status
        lines[name] = (
            f"{name} {est.value:.3f} (95% CI {est.ci_low:.3f}-{est.ci_high:.3f}) against a baseline of "
            f"{base:.3f} over {window.n} rows"
        )
    missing = [m for m in baseline if m not in window.values]
    if missing:
        logger.info("baseline metrics %s are not computed on this window (no scores?)", missing)
    if not per_metric:
        raise InvalidInput(f"none of the baseline metrics {sorted(baseline)} can be computed on this window.")
    status = worst_status(per_metric.values())
    worst_line = lines[next(m for m, s in per_metric.items() if s is status)]  # the first at that status
    verdict = {
        Status.OK: "Performance holds",
        Status.WARNING: "Performance has slipped",
        Status.BREACH: "Performance has dropped",
    }
    summary = f"{verdict[status]}: {worst_line}."
    return MonitorResult(
        monitor="performance",
        status=status,
        metrics=metrics,
        thresholds=thresholds,
        summary=summary,
        details={"task": task, "per_metric": per_metric, "confidence": confidence, "not_computed": missing},
    )


def split_windows(
    frame: pd.DataFrame,
    *,
    time_column: str | None = None,
    size: int | None = None,
    freq: str | None = None,
) -> list[Window]:
    """Cut ``frame`` into consecutive windows.

    Parameters
    ----------
    frame : pandas.DataFrame
    time_column : str, optional
        With ``freq``: the timestamp column whose calendar periods are the windows (rows keep their
        order within a window; empty periods are skipped).
    size : int, optional
        Fixed count windows of ``size`` rows in the frame's order (the last one may be shorter).
    freq : str, optional
        A pandas frequency ("1D", "6h", "15min") for time windows.

    Returns
    -------
    list of Window
        Count windows carry row positions ``[start, end)``; time windows their period's bounds.
        Each window's frame keeps the original index. Neither ``size`` nor ``freq``: one window.
    """
    if size is not None and freq is not None:
        raise InvalidInput("choose either a window size or a time frequency, not both.")
    if freq is not None:
        if time_column is None:
            raise InvalidInput("a time frequency needs a time column.")
        if time_column not in frame.columns:
            raise InvalidInput(f"time column {time_column!r} is not in the data.")
        try:
            offset = pd.tseries.frequencies.to_offset(freq)
        except ValueError as exc:
            raise InvalidInput(f"frequency {freq!r} is not a pandas frequency.") from exc
        times = to_timestamps(frame[time_column], time_column)
        if times.isna().any():
            raise InvalidInput(
                f"time column {time_column!r} has {int(times.isna().sum())} missing timestamps."
            )
        starts = (
            times.dt.floor(offset)
            if offset.n and _is_fixed(offset)
            else times.dt.to_period(offset).dt.start_time
        )
        windows = []
        for i, (start, part) in enumerate(frame.groupby(starts.to_numpy(), sort=True)):
            begin = pd.Timestamp(start)
            windows.append(Window(i, begin, begin + offset, part))
        return windows
    if size is not None:
        if size < 1:
            raise InvalidInput(f"window size {size} is not positive.")
        return [
            Window(i, start, min(start + size, len(frame)), frame.iloc[start : start + size])
            for i, start in enumerate(range(0, len(frame), size))
        ]
    return [Window(0, 0, len(frame), frame)]


def to_timestamps(column: pd.Series, name: str) -> pd.Series:
    """``column`` as timestamps: numbers are seconds since the epoch, text is parsed."""
    try:
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            return pd.to_datetime(column, unit="s")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return pd.to_datetime(column)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInput(f"time column {name!r} does not hold timestamps.") from exc


def _is_fixed(offset: Any) -> bool:
    try:
        _ = offset.nanos
    except ValueError:
        return False
    return True
