"""Multivariate drift: shifts of the joint distribution that column-by-column tests cannot see.

Two tests, each returning a :class:`MultivariateTest` (statistic, threshold, p-value, verdict):

* **domain classifier**: a random forest learns to tell reference rows from current rows; its
  cross-validated ROC-AUC is compared with the AUC of a classifier that cannot tell them apart
  (0.5), whose spread at these sizes is the Mann-Whitney null ``(n1 + n2 + 1) / (12 n1 n2)``
  (ties and the cross-validation's class balance only make it conservative). The forest's most
  important features are named, so a person knows where to look.
* **PCA reconstruction error** (NannyML's data reconstruction drift): the standardised reference
  is compressed to the principal components that explain 65 % of its variance; a window whose
  rows reconstruct worse (or better) than the reference's own rows has moved off the reference's
  correlation structure. The model is fitted on two thirds of the reference and the null spread
  of the mean error is taken from the held-out third, so the band holds at the window's size.

Both work on bounded samples of rows (``SAMPLE_ROWS``), which the profiles keep.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from governance.errors import InvalidInput

SAMPLE_ROWS = 5000
MIN_ROWS = 20
PCA_VARIANCE = 0.65


@dataclass(frozen=True)
class MultivariateTest:
    """One multivariate test's answer."""

    name: str
    statistic_name: str
    statistic: float
    threshold: float
    p_value: float
    drift_detected: bool
    top_features: tuple[str, ...] = ()
    details: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "test": self.name,
            "statistic_name": self.statistic_name,
            "statistic": self.statistic,
            "threshold": self.threshold,
            "p_value": self.p_value,
            "drift_detected": self.drift_detected,
            "top_features": list(self.top_features),
            **self.details,
        }


def _check(reference: pd.DataFrame, current: pd.DataFrame) -> None:
    if list(reference.columns) != list(current.columns):
        raise InvalidInput("the reference and current rows have different columns")
    for side, frame in (("reference", reference), ("current", current)):
        if len(frame) < MIN_ROWS:
            raise InvalidInput(
                f"the multivariate tests need at least {MIN_ROWS} {side} rows, not {len(frame)}"
            )


def _numeric(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c]) or frame[c].dtype == bool]


def _encoded(reference: pd.DataFrame, current: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Both sides as float matrices: numbers as they are, other columns as codes of their values."""
    columns: list[str] = []
    left, right = [], []
    numeric = set(_numeric(reference)) & set(_numeric(current))
    for name in reference.columns:
        a, b = reference[name], current[name]
        if name in numeric:
            x, y = a.astype(np.float64).to_numpy(), b.astype(np.float64).to_numpy()
            fill = float(np.nanmedian(x)) if np.isfinite(x).any() else 0.0
            x, y = np.where(np.isfinite(x), x, fill), np.where(np.isfinite(y), y, fill)
        else:
            categories = pd.Index(pd.concat([a, b]).dropna().astype(str).unique())
            x = categories.get_indexer(a.astype(str)).astype(np.float64)
            y = categories.get_indexer(b.astype(str)).astype(np.float64)
        columns.append(str(name))
        left.append(x)
        right.append(y)
    return np.column_stack(left), np.column_stack(right), columns


def domain_classifier_test(
    reference: pd.DataFrame, current: pd.DataFrame, *, alpha: float = 0.01, seed: int = 0, folds: int = 5
) -> MultivariateTest:
    """Drift when a classifier tells current rows from reference rows better than chance."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    _check(reference, current)
    x_ref, x_cur, names = _encoded(reference, current)
    x = np.vstack([x_ref, x_cur])
    y = np.r_[np.zeros(len(x_ref)), np.ones(len(x_cur))]
    forest = RandomForestClassifier(
        n_estimators=60, min_samples_leaf=3, class_weight="balanced", random_state=seed, n_jobs=1
    )
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_predict(forest, x, y, cv=splitter, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    n1, n2 = len(x_ref), len(x_cur)
    sd = float(np.sqrt((n1 + n2 + 1) / (12.0 * n1 * n2)))
    threshold = 0.5 + float(stats.norm.isf(alpha)) * sd
    p_value = float(stats.norm.sf((auc - 0.5) / sd))
    importances = forest.fit(x, y).feature_importances_
    top = tuple(names[i] for i in np.argsort(-importances, kind="stable")[:5])
    return MultivariateTest(
        "domain_classifier", "ROC-AUC", auc, threshold, p_value, auc > threshold, top, {"null_sd": sd}
    )


def pca_reconstruction_test(
    reference: pd.DataFrame, current: pd.DataFrame, *, alpha: float = 0.01, seed: int = 0
) -> MultivariateTest:
    """Drift when the window's mean PCA reconstruction error leaves the reference's band."""
    from sklearn.decomposition import PCA

    _check(reference, current)
    numeric = [c for c in _numeric(reference) if c in set(_numeric(current))]
    if len(numeric) < 2:
        raise InvalidInput("the PCA reconstruction test needs at least two numeric columns")
    x_ref, x_cur, names = _encoded(reference[numeric], current[numeric])
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_ref))
    fit_rows, held_rows = order[: 2 * len(order) // 3], order[2 * len(order) // 3 :]
    center = x_ref[fit_rows].mean(axis=0)
    scale = x_ref[fit_rows].std(axis=0)
    scale[scale == 0] = 1.0
    pca = PCA(n_components=PCA_VARIANCE, svd_solver="full", random_state=seed)
    pca.fit((x_ref[fit_rows] - center) / scale)

    def errors(x: np.ndarray) -> np.ndarray:
        z = (x - center) / scale
        return np.linalg.norm(z - pca.inverse_transform(pca.transform(z)), axis=1)

    held, window = errors(x_ref[held_rows]), errors(x_cur)
    # rare values of near-constant columns give a few huge errors; capping both sides at the held-out
    # rows' 99th percentile keeps the mean's law near normal at window sizes (and a flood of large
    # errors still moves the mean)
    cap = float(np.quantile(held, 0.99))
    held, window = np.minimum(held, cap), np.minimum(window, cap)
    mu, spread = float(held.mean()), float(held.std(ddof=1))
    sd = spread * float(np.sqrt(1.0 / len(window) + 1.0 / len(held)))
    statistic = float(window.mean())
    z_crit = float(stats.norm.isf(alpha / 2))
    upper, lower = mu + z_crit * sd, mu - z_crit * sd
    p_value = float(2 * stats.norm.sf(abs(statistic - mu) / sd)) if sd > 0 else float(statistic == mu)
    # the columns whose reconstruction got worst, relative to the reference's own
    per_column = np.abs(
        (x_cur - center) / scale - pca.inverse_transform(pca.transform((x_cur - center) / scale))
    ).mean(axis=0)
    held_z = (x_ref[held_rows] - center) / scale
    baseline = np.abs(held_z - pca.inverse_transform(pca.transform(held_z))).mean(axis=0)
    top = tuple(names[i] for i in np.argsort(-(per_column - baseline), kind="stable")[:5])
    return MultivariateTest(
        "pca_reconstruction",
        "reconstruction error",
        statistic,
        upper,
        p_value,
        not lower <= statistic <= upper,
        top,
        {"lower_threshold": lower, "reference_error": mu, "components": float(pca.n_components_)},
    )


def multivariate_drift(
    reference: pd.DataFrame, current: pd.DataFrame, *, alpha: float = 0.01, seed: int = 0
) -> list[MultivariateTest]:
    """Both multivariate tests on (bounded samples of) the reference and current rows."""
    reference = reference.iloc[:SAMPLE_ROWS]
    current = current.iloc[:SAMPLE_ROWS]
    return [
        domain_classifier_test(reference, current, alpha=alpha, seed=seed),
        pca_reconstruction_test(reference, current, alpha=alpha, seed=seed),
    ]


__all__ = [
    "SAMPLE_ROWS",
    "MultivariateTest",
    "domain_classifier_test",
    "multivariate_drift",
    "pca_reconstruction_test",
]
