"""Concept drift: river's streaming detectors over a model's errors, and a check that tells a
change of P(y|x) (concept drift) from a change of P(x) (data drift).

:func:`detect_drift_points` feeds an error stream to one of river's detectors (ADWIN,
Page-Hinkley, DDM, EDDM) and returns where it fired. :func:`diagnose_drift` compares a labelled
reference sample with a labelled current one:

* **P(x)**: a domain classifier learns to tell current rows from reference rows; its
  cross-validated ROC-AUC is about 0.5 when the inputs did not move, and a one-sided Mann-Whitney
  test on its out-of-fold scores says whether it is above chance.
* **P(y|x)**: the deployed model's error on the current rows is compared with the error it *would*
  have if only the inputs had moved: the reference errors re-weighted by the domain classifier's
  density ratio ``p(current | x) / p(reference | x)`` (importance weighting). A current error
  significantly above that expectation (one-sided z-test, the weighted side's effective sample
  size) is concept drift; a covariate shift alone that sends rows to regions where the model is
  weaker does not count.

>>> points = detect_drift_points([0.0] * 500 + [1.0] * 500, detector="adwin")
>>> 500 < points[0] < 600
True
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from governance.errors import InvalidInput
from monitors.result import MonitorResult, Status

logger = logging.getLogger(__name__)

DETECTORS = ("adwin", "page-hinkley", "ddm", "eddm", "vote")
_ALIASES = {"page_hinkley": "page-hinkley", "pagehinkley": "page-hinkley", "ph": "page-hinkley"}
BINARY_DETECTORS = frozenset({"ddm", "eddm"})
DEFAULT_DIAGNOSIS_THRESHOLDS: dict[str, float] = {
    "domain_auc": 0.6,
    "alpha": 0.01,
    "min_error_increase": 0.02,
}


def make_detector(detector: str, **params: Any) -> Any:
    """A fresh river drift detector by name (``adwin``, ``page-hinkley``, ``ddm``, ``eddm``)."""
    from river import drift

    name = _ALIASES.get(detector.lower(), detector.lower())
    factories: dict[str, Callable[..., Any]] = {
        "adwin": drift.ADWIN,
        "page-hinkley": drift.PageHinkley,
        "ddm": drift.binary.DDM,
        "eddm": drift.binary.EDDM,
    }
    if name not in factories:
        raise InvalidInput(f"drift detector {detector!r} is not one of {', '.join(DETECTORS)}.")
    try:
        return factories[name](**params)
    except TypeError as exc:
        raise InvalidInput(f"drift detector {name} does not take these parameters: {exc}.") from exc


def detect_drift_points(
    errors: Sequence[float | bool] | np.ndarray, *, detector: str = "adwin", **params: Any
) -> list[int]:
    """The 0-based positions in ``errors`` at which a river detector signalled drift.

    Parameters
    ----------
    errors : sequence of float or bool
        The labelled stream's errors in arrival order: 0/1 (or bool) misclassifications for DDM and
        EDDM, any number (0/1 errors, absolute or squared residuals) for ADWIN and Page-Hinkley.
    detector : {"adwin", "page-hinkley", "ddm", "eddm", "vote"}
        One of river's detectors, or ``vote``: drift where at least ``min_votes`` (2) of
        ``members`` (ADWIN, Page-Hinkley, DDM) fired within ``window`` (200) records.
    **params
        Passed to the river detector (``delta``, ``threshold``, ``warm_start``...), or the vote's
        ``members``, ``min_votes``, ``window``.

    Returns
    -------
    list of int
        Positions ``i`` such that ``detector.drift_detected`` was true right after ``update(errors[i])``.

    Examples
    --------
    >>> detect_drift_points([False] * 300 + [True, False] * 100, detector="ddm")
    [300]
    >>> detect_drift_points([0] * 300 + [1, 0] * 100, detector="page-hinkley")
    [420]
    """
    name = _ALIASES.get(detector.lower(), detector.lower())
    if name == "vote":
        return _vote(errors, **params)
    values = np.asarray(errors, dtype=np.float64) if len(errors) else np.empty(0)
    if values.ndim != 1:
        raise InvalidInput("the error stream must be one-dimensional.")
    if not np.all(np.isfinite(values)):
        raise InvalidInput("the error stream has missing or infinite values.")
    if name in BINARY_DETECTORS and not np.all((values == 0) | (values == 1)):
        raise InvalidInput(f"drift detector {name} needs 0/1 errors, not arbitrary numbers.")
    model = make_detector(name, **params)
    points: list[int] = []
    if name in BINARY_DETECTORS:
        for i, value in enumerate(values.tolist()):
            model.update(bool(value))
            if model.drift_detected:
                points.append(i)
    else:
        for i, value in enumerate(values.tolist()):
            model.update(value)
            if model.drift_detected:
                points.append(i)
    return points


def _vote(
    errors: Sequence[float | bool] | np.ndarray,
    *,
    members: Sequence[str] = ("adwin", "page-hinkley", "ddm"),
    min_votes: int = 2,
    window: int = 200,
) -> list[int]:
    """Drift where at least ``min_votes`` of river's ``members`` fired within ``window`` records
    (at the record completing the vote; one alarm per ``window``). DDM is left out for errors that
    are not 0/1."""
    values = np.asarray(errors, dtype=np.float64) if len(errors) else np.empty(0)
    binary = bool(np.all((values == 0) | (values == 1)))
    chosen = [m for m in members if binary or _ALIASES.get(m, m) not in BINARY_DETECTORS]
    if "vote" in chosen or not 1 <= min_votes <= len(chosen):
        raise InvalidInput(
            f"a vote needs between 1 and {len(chosen)} votes of real detectors, got {min_votes}."
        )
    if window < 1:
        raise InvalidInput(f"vote window {window} is not positive.")
    events = sorted((p, m) for m in chosen for p in detect_drift_points(values, detector=m))
    last: dict[str, int] = {}
    fired: list[int] = []
    for position, member in events:
        last[member] = position
        votes = sum(position - seen < window for seen in last.values())
        if votes >= min_votes and (not fired or position - fired[-1] >= window):
            fired.append(position)
    return fired


def _rows(x: Any) -> int:
    return len(x) if isinstance(x, pd.DataFrame) else len(np.asarray(x))


def _sample(x: Any, y: np.ndarray, max_rows: int, rng: np.random.Generator) -> tuple[Any, np.ndarray]:
    if len(y) <= max_rows:
        return x, y
    chosen = np.sort(rng.choice(len(y), size=max_rows, replace=False))
    rows = x.iloc[chosen] if isinstance(x, pd.DataFrame) else np.asarray(x)[chosen]
    return rows, y[chosen]


def _features(reference_x: Any, current_x: Any) -> tuple[np.ndarray, int]:
    ref = pd.DataFrame(np.asarray(reference_x)) if not isinstance(reference_x, pd.DataFrame) else reference_x
    cur = pd.DataFrame(np.asarray(current_x)) if not isinstance(current_x, pd.DataFrame) else current_x
    if list(ref.columns) != list(cur.columns):
        raise InvalidInput("the reference and current inputs do not have the same columns.")
    both = pd.concat([ref, cur], ignore_index=True)
    both = pd.get_dummies(both, dummy_na=False).astype(np.float64)
    return both.to_numpy(), len(ref)


def _domain_scores(x: np.ndarray, origin: np.ndarray, seed: int, folds: int) -> np.ndarray:
    """Out-of-fold probabilities that each row is a current row."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    classifier = HistGradientBoostingClassifier(max_iter=60, learning_rate=0.1, random_state=seed)
    splits = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    # One thread: on samples this size OpenMP's start-up costs more than it saves, and a shared
    # machine's cores are oversubscribed.
    with threadpool_limits(limits=1 if len(x) < 50_000 else None):
        proba = cross_val_predict(classifier, x, origin, cv=splits, method="predict_proba")
    return np.asarray(proba[:, 1], dtype=np.float64)


def _errors(truth: np.ndarray, predicted: np.ndarray, task: str) -> np.ndarray:
    if task == "regression":
        return np.abs(predicted.astype(np.float64) - truth.astype(np.float64))
    return (predicted != truth).astype(np.float64)


def diagnose_drift(
    reference_X: Any,
    reference_y: Sequence[Any] | np.ndarray,
    current_X: Any,
    current_y: Sequence[Any] | np.ndarray,
    *,
    model_predict: Callable[[Any], Any],
    task: str = "classification",
    thresholds: Mapping[str, float] | None = None,
    folds: int = 5,
    max_rows: int = 20_000,
    seed: int = 0,
) -> MonitorResult:
    """Tell concept drift (P(y|x) changed) from data drift (P(x) changed) on labelled samples.

    Parameters
    ----------
    reference_X, current_X : array-like or pandas.DataFrame
        Inputs of the reference sample (e.g. validation data) and of the current window, with the
        same columns; categorical columns are one-hot encoded for the domain classifier.
    reference_y, current_y : array-like
        Their labels (numbers for ``task="regression"``).
    model_predict : callable
        The deployed model's ``predict``, called on ``reference_X`` and on ``current_X`` as given.
    task : {"classification", "regression"}
        Errors are misclassifications, or absolute residuals.
    thresholds : mapping, optional
        ``domain_auc`` (data drift needs at least this AUC, default 0.6), ``alpha`` (significance
        of both tests, default 0.01), ``min_error_increase`` (concept drift needs the current error
        at least this far above the expected one, default 0.02, in the error's units).
    folds : int
        Cross-validation folds of the domain classifier.
    max_rows : int
        Larger samples are cut to a seeded random sample of this many rows each.
    seed : int

    Returns
    -------
    MonitorResult
        ``metrics``: ``domain_auc``, ``domain_p_value``, ``reference_error``, ``expected_error``
        (the reference error re-weighted to the current inputs), ``current_error``,
        ``error_p_value``, ``effective_reference_size``, ``n_reference``, ``n_current``;
        ``details["kind"]`` in {"none", "data_drift", "concept_drift", "both"}. The status is
        "ok" for none, "warning" for data drift alone, "breach" when the concept drifted.
    """
    if task not in ("classification", "regression"):
        raise InvalidInput(f"task {task!r} is not one of classification, regression.")
    limits = _diagnosis_limits(thresholds)
    samples = _paired_samples(
        reference_X, reference_y, current_X, current_y, max_rows=max_rows, folds=folds, seed=seed
    )
    shift = _domain_shift(samples, seed=seed, folds=folds)
    data_drift = shift.auc >= limits["domain_auc"] and shift.p_value < limits["alpha"]
    ref_err = _errors(samples.reference_y, np.asarray(model_predict(samples.reference_X)), task)
    cur_err = _errors(samples.current_y, np.asarray(model_predict(samples.current_X)), task)
    weights = _importance_weights(shift.reference_scores, shifted=data_drift)
    errors = _compare_errors(ref_err, cur_err, weights, task)
    concept = (
        errors.p_value < limits["alpha"] and errors.current - errors.expected >= limits["min_error_increase"]
    )
    kind = _drift_kind(data_drift=data_drift, concept=concept)
    status = Status.BREACH if concept else Status.WARNING if data_drift else Status.OK
    logger.debug(
        "drift diagnosis %s: auc %.3f p %.2g, error %.3f vs %.3f p %.2g",
        kind,
        shift.auc,
        shift.p_value,
        errors.current,
        errors.expected,
        errors.p_value,
    )
    return MonitorResult(
        monitor="drift_diagnosis",
        status=status,
        metrics={
            "domain_auc": shift.auc,
            "domain_p_value": shift.p_value,
            "reference_error": float(ref_err.mean()),
            "expected_error": errors.expected,
            "current_error": errors.current,
            "error_p_value": errors.p_value,
            "effective_reference_size": errors.n_eff,
            "n_reference": float(samples.n_reference),
            "n_current": float(samples.n_current),
        },
        thresholds=dict(limits),
        summary=_diagnosis_summary(kind, task, shift.auc, errors),
        details={"kind": kind, "task": task},
    )


def _diagnosis_limits(thresholds: Mapping[str, float] | None) -> dict[str, float]:
    """The defaults overridden by ``thresholds``; InvalidInput on a name that is not a threshold."""
    limits = {**DEFAULT_DIAGNOSIS_THRESHOLDS, **(thresholds or {})}
    unknown = set(limits) - set(DEFAULT_DIAGNOSIS_THRESHOLDS)
    if unknown:
        raise InvalidInput(
            f"threshold {sorted(unknown)[0]!r} is not one of {', '.join(DEFAULT_DIAGNOSIS_THRESHOLDS)}."
        )
    return limits


@dataclass(frozen=True)
class _Samples:
    """The (cut) labelled samples and the domain classifier's feature matrix, reference rows first."""

    reference_X: Any
    reference_y: np.ndarray
    current_X: Any
    current_y: np.ndarray
    x: np.ndarray
    n_reference: int

    @property
    def n_current(self) -> int:
        return len(self.x) - self.n_reference


def _paired_samples(
    reference_X: Any,
    reference_y: Sequence[Any] | np.ndarray,
    current_X: Any,
    current_y: Sequence[Any] | np.ndarray,
    *,
    max_rows: int,
    folds: int,
    seed: int,
) -> _Samples:
    """Both samples cut to ``max_rows`` (seeded) and encoded together; InvalidInput when the labels
    do not match the rows or a side has too few rows for ``folds``."""
    ref_y, cur_y = np.asarray(reference_y), np.asarray(current_y)
    if len(ref_y) != _rows(reference_X) or len(cur_y) != _rows(current_X):
        raise InvalidInput("the labels do not have one value per input row.")
    rng = np.random.default_rng(seed)
    reference_X, ref_y = _sample(reference_X, ref_y, max_rows, rng)
    current_X, cur_y = _sample(current_X, cur_y, max_rows, rng)
    x, n_ref = _features(reference_X, current_X)
    samples = _Samples(reference_X, ref_y, current_X, cur_y, x, n_ref)
    if len(ref_y) != n_ref or len(cur_y) != samples.n_current:
        raise InvalidInput("the labels do not have one value per input row.")
    if min(n_ref, samples.n_current) < 2 * folds:
        raise InvalidInput(
            f"each sample needs at least {2 * folds} rows, got {n_ref} and {samples.n_current}."
        )
    return samples


@dataclass(frozen=True)
class _DomainShift:
    """How well a classifier tells current rows from reference rows (P(x) moved)."""

    auc: float
    p_value: float  # one-sided Mann-Whitney: the current rows score higher than chance
    reference_scores: np.ndarray  # out-of-fold P(current | x) of the reference rows


def _domain_shift(samples: _Samples, *, seed: int, folds: int) -> _DomainShift:
    n_ref, n_cur = samples.n_reference, samples.n_current
    origin = np.r_[np.zeros(n_ref, dtype=int), np.ones(n_cur, dtype=int)]
    scores = _domain_scores(samples.x, origin, seed, folds)
    ref_scores, cur_scores = scores[:n_ref], scores[n_ref:]
    auc = float(stats.mannwhitneyu(cur_scores, ref_scores).statistic / (n_ref * n_cur))
    p_value = float(stats.mannwhitneyu(cur_scores, ref_scores, alternative="greater").pvalue)
    return _DomainShift(auc, p_value, ref_scores)


def _importance_weights(reference_scores: np.ndarray, *, shifted: bool) -> np.ndarray:
    """Normalised weights that re-weight the reference rows to the current inputs."""
    if shifted:
        # Density ratios from the domain classifier, clipped so that a few confident rows cannot
        # carry the whole expectation.
        clipped = np.clip(reference_scores, 0.05, 0.95)
        weights = clipped / (1.0 - clipped)
    else:
        # No detectable shift: the classifier's scores are noise, the plain reference error is the
        # better estimate.
        weights = np.ones(len(reference_scores))
    return np.asarray(weights / weights.sum(), dtype=np.float64)


@dataclass(frozen=True)
class _ErrorComparison:
    """The current error against the one the input shift alone predicts."""

    expected: float  # the reference error re-weighted to the current inputs
    current: float
    p_value: float  # one-sided z-test: the current error is above the expected one
    n_eff: float  # the weighted reference's effective sample size


def _compare_errors(
    ref_err: np.ndarray, cur_err: np.ndarray, weights: np.ndarray, task: str
) -> _ErrorComparison:
    expected = float(np.sum(weights * ref_err))
    n_eff = float(1.0 / np.sum(weights**2))
    current = float(cur_err.mean())
    n_cur = len(cur_err)
    ref_var = float(np.sum(weights * (ref_err - expected) ** 2)) * n_eff / max(n_eff - 1.0, 1.0)
    cur_var = float(cur_err.var(ddof=1))
    spread = math.sqrt(ref_var / n_eff + cur_var / n_cur)
    if task == "classification":
        # Two proportions: the pooled variance keeps the test defined when one side has no errors.
        pooled = (expected * n_eff + current * n_cur) / (n_eff + n_cur)
        spread = math.sqrt(pooled * (1 - pooled) * (1 / n_eff + 1 / n_cur))
    p_value = float(stats.norm.sf((current - expected) / spread)) if spread > 0 else 1.0
    return _ErrorComparison(expected, current, p_value, n_eff)


def _drift_kind(*, data_drift: bool, concept: bool) -> str:
    """``none``, ``data_drift``, ``concept_drift`` or ``both``."""
    kinds = {(False, False): "none", (True, False): "data_drift", (False, True): "concept_drift"}
    return kinds.get((data_drift, concept), "both")


_KIND_SENTENCES = {
    "none": "Neither the inputs nor the input-label relation changed",
    "data_drift": "The inputs changed but the model's errors are what that shift predicts (data drift only)",
    "concept_drift": "The input-label relation changed: the model errs more than the input shift explains (concept drift)",
    "both": "Both the inputs and the input-label relation changed",
}


def _diagnosis_summary(kind: str, task: str, domain_auc: float, errors: _ErrorComparison) -> str:
    unit = "error rate" if task == "classification" else "mean absolute error"
    return (
        f"{_KIND_SENTENCES[kind]}: domain AUC {domain_auc:.2f}, {unit} {errors.current:.3f} against "
        f"{errors.expected:.3f} expected from the reference."
    )
