"""Calibrated drift verdicts: a p-value per column at the sample sizes at hand, corrected over columns.

Evidently's fixed thresholds on distances (normed Wasserstein at 0.1, Jensen-Shannon at 0.1) do not
depend on how many rows were compared, so on small windows they flag clean columns often (29 % of
the digits columns at 150 rows). Here every column gets a test with a valid p-value:

* numerical columns: the two-sample Kolmogorov-Smirnov test from the profiles' sketches (exact
  p-value up to 10,000 rows a side, asymptotic beyond; with ties it is conservative);
* categorical columns and numbers with at most five values: the chi-square test of homogeneity on
  the 2 x k table of counts, categories too rare for the asymptotic law (expected count below 5)
  pooled into one cell;
* a distance method asked for by name (``wasserstein``, ``psi``, ``jensenshannon``, ``kl_div``):
  its p-value from a bootstrap null at these sizes, drawn from the pooled profile of both sides.

A column is flagged when ``p <= column_fpr``; the dataset verdict is drift when the Holm (or
Benjamini-Hochberg) adjusted p-value of some column is at most ``family_fpr``, which bounds the
chance that a clean window reads as drifted by ``family_fpr`` whatever the number of columns.
Each column also carries an effect size people can read: the normed Wasserstein distance and the
shift of the mean in reference standard deviations (numerical), the PSI (categorical).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats

from monitors.drift import stattests
from monitors.drift.profile import NUMERIC, ColumnProfile, Moments
from monitors.drift.sketch import NumericSketch

CORRECTIONS = ("holm", "bh")
DISTANCES = ("wasserstein", "psi", "jensenshannon", "kl_div")
MIN_EXPECTED = 5.0
BOOTSTRAP_DRAWS = 200


def adjust(p_values: np.ndarray, correction: str) -> np.ndarray:
    """Holm's step-down or Benjamini-Hochberg's step-up adjusted p-values, in the input order.

    >>> adjust(np.array([0.01, 0.04, 0.03]), "holm").round(3).tolist()
    [0.03, 0.06, 0.06]
    >>> adjust(np.array([0.01, 0.04, 0.03]), "bh").round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return p
    order = np.argsort(p, kind="stable")
    ranked = p[order]
    if correction == "holm":
        adjusted = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif correction == "bh":
        adjusted = np.minimum.accumulate((m * ranked / np.arange(1, m + 1))[::-1])[::-1]
    else:
        raise ValueError(f"unknown correction {correction!r}")
    out = np.empty(m)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def mean_of(col: ColumnProfile) -> float:
    sketch = col.sketch
    if sketch is not None and sketch.exact and sketch.counts.size:
        return float((sketch.lows * sketch.counts).sum() / sketch.counts.sum())
    return float(col.moments.mean)


def chi_square_homogeneity(ref: Mapping[Any, int], cur: Mapping[Any, int]) -> float:
    """p-value of the chi-square test that both samples come from one distribution over categories."""
    keys = stattests._sorted_keys(ref, cur)
    table = np.array([[ref.get(k, 0) for k in keys], [cur.get(k, 0) for k in keys]], dtype=np.float64)
    totals = table.sum(axis=0)
    expected_small_side = table.sum(axis=1).min() * totals / totals.sum()
    rare = expected_small_side < MIN_EXPECTED
    if rare.any():
        pooled = table[:, rare].sum(axis=1, keepdims=True)
        table = np.concatenate([table[:, ~rare], pooled], axis=1)
        if table.shape[1] > 1 and pooled.sum() * table.sum(axis=1).min() / table.sum() < MIN_EXPECTED:
            # the pooled cell is still too small: fold it into the smallest regular category
            smallest = int(np.argmin(table[:, :-1].sum(axis=0)))
            table[:, smallest] += table[:, -1]
            table = table[:, :-1]
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return 1.0
    statistic = stats.chi2_contingency(table, correction=False)[1]
    return float(statistic)


def effect_sizes(ref: ColumnProfile, cur: ColumnProfile, numerical: bool) -> dict[str, float]:
    """Readable sizes of the change: normed Wasserstein and mean shift in reference SDs, or PSI."""
    if numerical and ref.sketch is not None and cur.sketch is not None:
        norm = max(ref.std(), 0.001)
        return {
            "wasserstein_normed": stattests.wasserstein(ref.sketch, cur.sketch) / norm,
            "mean_shift_sd": (mean_of(cur) - mean_of(ref)) / norm,
        }
    a, b = ref.value_counts(), cur.value_counts()
    if a is None or b is None:
        return {}
    p, q = stattests.value_percents(a, b)
    return {"psi": stattests.psi(p, q)}


def _draw(col: ColumnProfile, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` values drawn with replacement from a column's profile (uniform inside binned sketches)."""
    sketch = col.sketch
    if sketch is not None:
        bins = rng.choice(sketch.counts.size, size=n, p=sketch.counts / sketch.counts.sum())
        lows, highs = sketch.lows[bins], sketch.highs[bins]
        return lows + (highs - lows) * rng.random(n)
    counts = col.value_counts() or {}
    keys = list(counts)
    weights = np.array([counts[k] for k in keys], dtype=np.float64)
    picks = rng.choice(len(keys), size=n, p=weights / weights.sum())
    return np.asarray(keys, dtype=object)[picks]


def _distance(method: str, a: ColumnProfile, b: ColumnProfile, numerical: bool) -> float:
    from monitors.drift.engine import METHODS, score_column

    kind = "num" if numerical else "cat"
    return score_column("", a, b, kind, METHODS[method])[0]


def _resampled(col: ColumnProfile, values: np.ndarray) -> ColumnProfile:
    if col.sketch is not None:
        x = values.astype(np.float64)
        return ColumnProfile(
            col.name,
            col.dtype,
            NUMERIC,
            x.size,
            0,
            sketch=NumericSketch.from_values(x),
            moments=Moments.of(x),
        )
    keys, counts = np.unique(values.astype(str), return_counts=True)
    lookup = {str(k): k for k in (col.value_counts() or {})}
    categories = {lookup[k]: int(c) for k, c in zip(keys, counts, strict=True)}
    return ColumnProfile(col.name, col.dtype, col.kind, values.size, 0, categories=categories)


def bootstrap_p_value(
    method: str, ref: ColumnProfile, cur: ColumnProfile, numerical: bool, *, draws: int, seed: int
) -> tuple[float, float]:
    """The distance and its p-value under "same distribution", by bootstrap from both sides pooled."""
    from monitors.drift.profile import merge_columns

    observed = _distance(method, ref, cur, numerical)
    pooled = merge_columns(ref, cur)
    rng = np.random.default_rng(seed)
    exceed = 0
    for _ in range(draws):
        a = _resampled(pooled, _draw(pooled, ref.count, rng))
        b = _resampled(pooled, _draw(pooled, cur.count, rng))
        exceed += _distance(method, a, b, numerical) >= observed
    return observed, (1 + exceed) / (1 + draws)


__all__ = [
    "BOOTSTRAP_DRAWS",
    "CORRECTIONS",
    "DISTANCES",
    "adjust",
    "bootstrap_p_value",
    "chi_square_homogeneity",
    "effect_sizes",
]
