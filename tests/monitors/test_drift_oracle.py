"""The drift engine against Evidently 0.7's ``DataDriftPreset`` as the oracle, on generated data.

Cases: reference and current sizes on both sides of 1000 rows; normal, offset, heavy-tailed,
log-normal, rounded, mixture and constant floats; integers with 2 to 400 values (so both
categorical and numerical by Evidently's rule), new categories, booleans, missing values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest

from monitors.drift import detect_drift
from tests.monitors.drift_cases import evidently_drift, generate_case

SIZES = [(40, 30), (300, 250), (1000, 1500), (1001, 700), (2500, 3000)]
SEEDS = [11, 12]


@dataclass
class Agreement:
    columns: int = 0
    same_verdict: int = 0
    same_method: int = 0
    max_relative_score_difference: float = 0.0
    mismatches: list[str] = field(default_factory=list)


def _relative(a: float, b: float) -> float:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return 0.0
    return abs(a - b) / max(abs(b), 1e-12)


@pytest.fixture(scope="module")
def agreement() -> Agreement:
    stats = Agreement()
    for seed in SEEDS:
        for n_ref, n_cur in SIZES:
            reference, current = generate_case(seed * 100 + n_ref, n_ref, n_cur)
            oracle, count, share = evidently_drift(reference, current)
            result = detect_drift(reference, current, preset="evidently")
            mine = {c.column: c for c in result.columns}
            assert set(mine) == set(oracle), (seed, n_ref, n_cur)
            assert result.drifted_count == count and result.drift_share == pytest.approx(share)
            for name, theirs in oracle.items():
                ours = mine[name]
                stats.columns += 1
                stats.same_verdict += ours.drift_detected == theirs.drift_detected
                stats.same_method += ours.method == theirs.method and ours.threshold == theirs.threshold
                difference = _relative(ours.score, theirs.score)
                stats.max_relative_score_difference = max(stats.max_relative_score_difference, difference)
                if ours.drift_detected != theirs.drift_detected or difference > 1e-6:
                    stats.mismatches.append(f"{seed}/{n_ref}/{n_cur}/{name}: {ours} vs {theirs}")
    print(
        f"\noracle: {stats.columns} columns in {len(SEEDS) * len(SIZES)} cases, "
        f"verdicts agree on {stats.same_verdict}, methods on {stats.same_method}, "
        f"max relative score difference {stats.max_relative_score_difference:.3g}"
    )
    return stats


def test_verdicts_agree_with_evidently_on_at_least_99_percent_of_columns(agreement: Agreement) -> None:
    assert agreement.columns >= 200
    assert agreement.same_verdict / agreement.columns >= 0.99, agreement.mismatches[:5]


def test_methods_and_thresholds_are_evidentlys(agreement: Agreement) -> None:
    assert agreement.same_method == agreement.columns


def test_scores_match_evidently_to_one_in_a_million(agreement: Agreement) -> None:
    assert agreement.max_relative_score_difference <= 1e-6, agreement.mismatches[:5]


@pytest.mark.parametrize(("seed", "n_ref", "n_cur"), [(5, 2500, 3000), (6, 400, 600)])
def test_per_column_methods_and_thresholds_agree_with_evidently(seed: int, n_ref: int, n_cur: int) -> None:
    reference, current = generate_case(seed, n_ref, n_cur)
    methods = {
        "f_normal": "psi",
        "f_heavy": "kl_div",
        "f_offset": "ks",
        "f_lognormal": "jensenshannon",
        "f_rounded": "wasserstein",
        "f_mixture": "psi",
        "f_constant": "kl_div",
        "i_5_40": "psi",
        "i_2_5": "kl_div",
        "i_1_3": "z",
        "s_few": "psi",
        "s_new": "kl_div",
        "s_binary": "chisquare",
        "b_flag": "jensenshannon",
    }
    thresholds = {"f_normal": 0.05, "s_few": 0.2, "i_6_400": 0.01, "f_offset": 0.5}
    oracle, count, share = evidently_drift(
        reference, current, methods=methods, thresholds=thresholds, drift_share=0.3
    )
    result = detect_drift(
        reference, current, methods=methods, thresholds=thresholds, drift_share=0.3, preset="evidently"
    )
    assert result.drifted_count == count and result.drift_share == pytest.approx(share)
    assert result.dataset_drift == (share >= 0.3)
    for ours in result.columns:
        theirs = oracle[ours.column]
        assert (ours.method, ours.threshold, ours.drift_detected) == (
            theirs.method,
            theirs.threshold,
            theirs.drift_detected,
        ), ours.column
        assert _relative(ours.score, theirs.score) <= 1e-6, ours.column
