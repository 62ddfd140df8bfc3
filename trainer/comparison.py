"""How sure a difference in accuracy is: confidence intervals for the gates' comparisons.

Pure functions over correctness vectors or counts. Two models scored on the same rows are
compared pairwise (McNemar's exact test and the matching interval); two rates measured on samples
whose rows cannot be paired are compared with Newcombe's hybrid score interval. Both intervals
widen as the sample shrinks, so a gate that asks "is the interval entirely below the tolerance?"
fails two equally good models no more often than ``(1 - confidence) / 2`` of the time.

Examples
--------
Five rows that only ``a`` gets right are not yet enough to call ``a`` better; ten are:

>>> d = paired_difference([True] * 45 + [False] * 5, [True] * 40 + [False] * 10)
>>> round(d.estimate, 2), d.discordant, d.low < 0 < d.high
(0.1, (5, 0), True)
>>> d = paired_difference([True] * 90 + [False] * 10, [True] * 80 + [False] * 20)
>>> round(d.estimate, 2), d.discordant, d.low > 0
(0.1, (10, 0), True)
>>> round(independent_difference(56, 70, 48, 80).low, 4)  # Newcombe (1998), table II, example (a)
0.0524
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import stats

PAIRED_TEST = "McNemar exact (conditional Clopper-Pearson interval)"
INDEPENDENT_TEST = "Newcombe hybrid score interval, Fisher exact p"


@dataclass(frozen=True)
class Difference:
    """``estimate`` = rate(a) - rate(b), its interval ``[low, high]`` at ``confidence``, and the test.

    ``discordant`` (paired only): rows only ``a`` got right, rows only ``b`` got right.
    """

    estimate: float
    low: float
    high: float
    confidence: float
    test: str
    p_value: float
    n: int
    discordant: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "difference": self.estimate,
            "ci_low": self.low,
            "ci_high": self.high,
            "confidence": self.confidence,
            "test": self.test,
            "p_value": self.p_value,
            "sample_size": self.n,
            **({"discordant": list(self.discordant)} if self.discordant is not None else {}),
        }


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence {confidence} is not between 0 and 1")


def paired_difference(
    a_correct: Sequence[bool] | np.ndarray,
    b_correct: Sequence[bool] | np.ndarray,
    *,
    confidence: float = 0.95,
) -> Difference:
    """Accuracy of ``a`` minus accuracy of ``b`` on the same rows, with McNemar's exact test.

    Only the discordant rows carry information: of ``m`` rows where exactly one is right, ``a``
    is right on ``k ~ Binomial(m, π)``, and the difference is ``(m / n)(2π - 1)``. The interval is
    the Clopper-Pearson interval of ``π`` mapped through that line (``[0, 0]`` when no row is
    discordant: the two never disagree); the p-value is the two-sided exact binomial test of
    ``π = 1/2``. The interval lies above zero only when the exact one-sided test at level
    ``(1 - confidence) / 2`` says ``a`` is better.
    """
    _check_confidence(confidence)
    a = np.asarray(a_correct, dtype=bool)
    b = np.asarray(b_correct, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError("paired correctness vectors must be one-dimensional and of equal length")
    n = len(a)
    if n == 0:
        raise ValueError("a comparison needs at least one row")
    only_a, only_b = int((a & ~b).sum()), int((~a & b).sum())
    m = only_a + only_b
    estimate = (only_a - only_b) / n
    if m == 0:
        return Difference(0.0, 0.0, 0.0, confidence, PAIRED_TEST, 1.0, n, (0, 0))
    result = stats.binomtest(only_a, m, 0.5)
    interval = result.proportion_ci(confidence_level=confidence, method="exact")
    scale = m / n
    return Difference(
        estimate,
        scale * (2 * float(interval.low) - 1),
        scale * (2 * float(interval.high) - 1),
        confidence,
        PAIRED_TEST,
        float(result.pvalue),
        n,
        (only_a, only_b),
    )


def _wilson(k: int, n: int, z: float) -> tuple[float, float]:
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def independent_difference(k_a: int, n_a: int, k_b: int, n_b: int, *, confidence: float = 0.95) -> Difference:
    """Rate ``k_a / n_a`` minus rate ``k_b / n_b`` of two independent samples (Newcombe's method 10).

    The p-value is Fisher's exact test of equal rates. Rates measured on the same rows are
    positively correlated more often than not; treating them as independent then gives a wider,
    more forgiving interval than a paired one.
    """
    _check_confidence(confidence)
    if n_a <= 0 or n_b <= 0:
        raise ValueError("a comparison needs at least one row on each side")
    if not (0 <= k_a <= n_a and 0 <= k_b <= n_b):
        raise ValueError("counts must lie between 0 and their sample sizes")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    p_a, p_b = k_a / n_a, k_b / n_b
    low_a, high_a = _wilson(k_a, n_a, z)
    low_b, high_b = _wilson(k_b, n_b, z)
    estimate = p_a - p_b
    _, p_value = stats.fisher_exact([[k_a, n_a - k_a], [k_b, n_b - k_b]])
    return Difference(
        estimate,
        estimate - math.sqrt((p_a - low_a) ** 2 + (high_b - p_b) ** 2),
        estimate + math.sqrt((high_a - p_a) ** 2 + (p_b - low_b) ** 2),
        confidence,
        INDEPENDENT_TEST,
        float(p_value),
        min(n_a, n_b),
    )
