"""Drift scores computed from profiles, following Evidently 0.7's stattests line by line.

Numeric tests (K-S, Wasserstein, the histogram path of Jensen-Shannon/PSI/KL) read a column
through its :class:`~monitors.drift.sketch.NumericSketch`. When the sketch is exact (at most
``max_bins`` distinct values) the empirical CDF is known exactly and the scores equal Evidently's
to rounding. When it is binned, each bin's mass is spread uniformly between the smallest and the
largest value it holds: the CDF is then exact at every bin boundary and piecewise linear inside
a bin, which is the only approximation the engine makes.

Category tests (chi-square, Z, and the value path of Jensen-Shannon/PSI/KL) need exact counts per
value, which every text/boolean column and every numeric column with few distinct values has.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from scipy import stats
from scipy.spatial import distance

from monitors.drift.sketch import NumericSketch

Counts = Mapping[Any, int]


# ---------------------------------------------------------------------------------------------
# piecewise-linear CDFs of sketches


def _mass(sketch: NumericSketch, points: np.ndarray, *, left: bool) -> np.ndarray:
    """Mass at or below each point (``left``: strictly below), bins spread uniformly."""
    lows, highs, counts = sketch.lows, sketch.highs, sketch.counts
    before = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.float64)
    i = np.searchsorted(lows, points, side="left" if left else "right") - 1
    inside = i >= 0
    j = np.where(inside, i, 0)
    width = highs[j] - lows[j]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(width > 0, np.clip((points - lows[j]) / width, 0.0, 1.0), 1.0)
    return np.where(inside, before[j] + counts[j] * frac, 0.0)


def _breakpoints(a: NumericSketch, b: NumericSketch) -> np.ndarray:
    return np.unique(np.concatenate([a.lows, a.highs, b.lows, b.highs]))


def _cdf_differences(ref: NumericSketch, cur: NumericSketch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Breakpoints and ``F_ref - F_cur`` just after each one and just before each one."""
    points = _breakpoints(ref, cur)
    n1, n2 = ref.count, cur.count
    after = _mass(ref, points, left=False) / n1 - _mass(cur, points, left=False) / n2
    before = _mass(ref, points, left=True) / n1 - _mass(cur, points, left=True) / n2
    return points, after, before


def ks_statistic(ref: NumericSketch, cur: NumericSketch) -> float:
    """The two-sample K-S statistic ``sup |F_ref - F_cur|``."""
    _, after, before = _cdf_differences(ref, cur)
    return float(max(np.abs(after).max(), np.abs(before).max()))


def ks_p_value(ref: NumericSketch, cur: NumericSketch) -> float:
    """``scipy.stats.ks_2samp(ref, cur).pvalue`` (two-sided, method ``auto``)."""
    return ks_p_value_of(ks_statistic(ref, cur), ref.count, cur.count)


def ks_p_value_of(d: float, n1: int, n2: int) -> float:
    """The two-sided p-value of the K-S statistic ``d`` for sample sizes ``n1`` and ``n2``."""
    d = float(np.clip(d, 0.0, 1.0))
    if max(n1, n2) <= 10000:
        from scipy.stats._stats_py import _attempt_exact_2kssamp  # the exact path ks_2samp takes

        success, _, prob = _attempt_exact_2kssamp(n1, n2, math.gcd(n1, n2), d, "two-sided")
        if success:
            return float(np.clip(prob, 0, 1))
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(stats.distributions.kstwo.sf(d, np.round(en)), 0, 1))


def binning_error(sketch: NumericSketch) -> float:
    """How far the binned distribution can be from the data (in Wasserstein-1): sum of width x share.

    Moving each value anywhere inside its bin costs at most the bin's width, so the Wasserstein
    distance computed from two sketches is within ``binning_error(ref) + binning_error(cur)`` of
    the exact one.
    """
    if sketch.exact or sketch.count == 0:
        return 0.0
    return float(np.sum((sketch.highs - sketch.lows) * sketch.counts) / sketch.count)


def largest_bin_share(sketch: NumericSketch) -> float:
    """The K-S statistic from sketches is within the two sides' largest binned shares of the exact one."""
    if sketch.exact or sketch.count == 0:
        return 0.0
    wide = sketch.highs > sketch.lows
    return float(sketch.counts[wide].max() / sketch.count) if wide.any() else 0.0


def wasserstein(ref: NumericSketch, cur: NumericSketch) -> float:
    """First Wasserstein distance ``integral |F_ref - F_cur| dx``."""
    points, after, before = _cdf_differences(ref, cur)
    if points.size < 2:
        return 0.0
    d0, d1, dx = after[:-1], before[1:], np.diff(points)
    a0, a1 = np.abs(d0), np.abs(d1)
    same_sign = d0 * d1 >= 0
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = np.where(a0 + a1 > 0, (d0 * d0 + d1 * d1) / (2 * (a0 + a1)), 0.0)
    return float(np.sum(np.where(same_sign, (a0 + a1) / 2, crossing) * dx))


def wasserstein_normed(ref: NumericSketch, cur: NumericSketch, ref_std: float) -> float:
    """Evidently's ``Wasserstein distance (normed)``: W1 over ``max(std(reference), 0.001)``."""
    return wasserstein(ref, cur) / max(float(ref_std), 0.001)


def histogram_percents(
    ref: NumericSketch, cur: NumericSketch, *, integer: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each side in ``numpy.histogram_bin_edges(ref + cur, bins="sturges")``."""
    n = ref.count + cur.count
    first = float(min(ref.vmin, cur.vmin))
    last = float(max(ref.vmax, cur.vmax))
    ptp = last - first
    if first == last:
        first, last = first - 0.5, last + 0.5
    width = ptp / (np.log2(n) + 1.0)
    if width:
        if integer and width < 1:
            width = 1
        n_bins = int(np.ceil((last - first) / width))
    else:
        n_bins = 1
    edges = np.linspace(first, last, n_bins + 1, endpoint=True)

    def shares(sketch: NumericSketch) -> np.ndarray:
        below = _mass(sketch, edges, left=True)
        below[-1] = _mass(sketch, edges[-1:], left=False)[0]  # the last bin is closed
        return np.diff(below) / sketch.count

    return shares(ref), shares(cur)


def value_percents(ref: Counts, cur: Counts) -> tuple[np.ndarray, np.ndarray]:
    """Shares of each side for every value seen on either side."""
    keys = _sorted_keys(ref, cur)
    n1, n2 = sum(ref.values()), sum(cur.values())
    return (
        np.array([ref.get(k, 0) / n1 for k in keys], dtype=np.float64),
        np.array([cur.get(k, 0) / n2 for k in keys], dtype=np.float64),
    )


def fill_zeroes(percents: np.ndarray) -> np.ndarray:
    """Evidently's ``feel_zeroes``: empty buckets get a small share so logarithms stay finite."""
    out = percents.copy()
    smallest = out[out != 0].min()
    np.place(out, out == 0, smallest / 10**6 if smallest <= 0.0001 else 0.0001)
    return out


def jensenshannon(ref_percents: np.ndarray, cur_percents: np.ndarray) -> float:
    return float(distance.jensenshannon(ref_percents, cur_percents))


def psi(ref_percents: np.ndarray, cur_percents: np.ndarray) -> float:
    p, q = fill_zeroes(ref_percents), fill_zeroes(cur_percents)
    return float(np.sum((p - q) * np.log(p / q)))


def kl_div(ref_percents: np.ndarray, cur_percents: np.ndarray) -> float:
    return float(stats.entropy(fill_zeroes(ref_percents), fill_zeroes(cur_percents)))


def chi_square_p_value(ref: Counts, cur: Counts) -> float:
    """Evidently's chi-square: current counts against reference counts scaled to the current size."""
    keys = _sorted_keys(ref, cur)
    n1, n2 = sum(ref.values()), sum(cur.values())
    k_norm = n2 / n1
    f_exp = np.array([ref.get(k, 0) * k_norm for k in keys], dtype=np.float64)
    f_obs = np.array([cur.get(k, 0) for k in keys], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(f_obs, f_exp)[1])


def z_p_value(ref: Counts, cur: Counts) -> float:
    """Evidently's two-proportion Z-test: the share of values other than the smallest one."""
    if len(ref) == 1 and len(cur) == 1 and next(iter(ref)) == next(iter(cur)):
        return 1.0
    key = _sorted_keys(ref, cur)[0]
    n1, n2 = sum(ref.values()), sum(cur.values())
    p1 = float(n1 - ref.get(key, 0)) / n1
    p2 = float(n2 - cur.get(key, 0)) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _sorted_keys(ref: Counts, cur: Counts) -> list[Any]:
    """Every value of either side, in order (values of mixed types by type name, then text)."""
    keys = set(ref) | set(cur)
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=lambda v: (type(v).__name__, str(v)))
