"""Calibrated drift verdicts: p-values that hold at the sizes at hand, corrections, effects, joint tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from governance.cli import main
from governance.errors import InvalidInput
from monitors.drift import build_profile, compare_profiles, detect_drift
from monitors.drift.calibrated import adjust, chi_square_homogeneity
from monitors.drift.multivariate import domain_classifier_test, multivariate_drift, pca_reconstruction_test


def _gaussian_windows(windows: int, columns: int, n_ref: int, n_cur: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(windows):
        ref = pd.DataFrame(rng.normal(size=(n_ref, columns)), columns=[f"c{i}" for i in range(columns)])
        cur = pd.DataFrame(rng.normal(size=(n_cur, columns)), columns=ref.columns)
        yield ref, cur


def _correlation_flip(n_ref: int, n_cur: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two columns correlated +0.8 in the reference, -0.8 in the window; every marginal N(0, 1)."""
    rng = np.random.default_rng(seed)

    def draw(n: int, r: float) -> pd.DataFrame:
        z = rng.multivariate_normal([0, 0], [[1, r], [r, 1]], size=n)
        return pd.DataFrame({"a": z[:, 0], "b": z[:, 1], "c": rng.normal(size=n), "d": rng.normal(size=n)})

    return draw(n_ref, 0.8), draw(n_cur, -0.8)


# -- the pieces, against their oracles ----------------------------------------------------------------
@pytest.mark.parametrize(("ours", "theirs"), [("holm", "holm"), ("bh", "fdr_bh")])
def test_corrections_match_statsmodels(ours: str, theirs: str) -> None:
    from statsmodels.stats.multitest import multipletests

    p = np.random.default_rng(1).uniform(0, 0.2, size=40) ** 2
    assert adjust(p, ours) == pytest.approx(multipletests(p, method=theirs)[1], abs=1e-12)


def test_chi_square_homogeneity_is_scipys_on_well_filled_tables_and_pools_rare_values() -> None:
    ref, cur = {"a": 300, "b": 200, "c": 100}, {"a": 40, "b": 50, "c": 30}
    table = np.array([[300, 200, 100], [40, 50, 30]])
    assert chi_square_homogeneity(ref, cur) == pytest.approx(
        stats.chi2_contingency(table, correction=False)[1]
    )
    # "d" and "e" expect under 5 values in the window: pooled, and the pool (still under 5) folded
    # into the smallest regular value, "c"
    rare = chi_square_homogeneity({**ref, "d": 4, "e": 3}, {**cur, "e": 2})
    pooled = np.array([[300, 200, 107], [40, 50, 32]])
    assert rare == pytest.approx(stats.chi2_contingency(pooled, correction=False)[1])
    assert chi_square_homogeneity({"x": 10}, {"x": 3}) == 1.0


def test_ks_p_values_are_scipys_and_effects_read_in_reference_sds() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(size=900), "k": rng.choice(["u", "v", "w"], size=900)})
    cur = pd.DataFrame({"x": rng.normal(0.5, size=200), "k": rng.choice(["u", "v", "w"], size=200)})
    result = detect_drift(ref, cur)
    x, k = result.columns
    assert x.method == "K-S p_value" and x.p_value == pytest.approx(stats.ks_2samp(ref["x"], cur["x"]).pvalue)
    expected_shift = (cur["x"].mean() - ref["x"].mean()) / ref["x"].std(ddof=0)
    assert x.effect is not None and x.effect["mean_shift_sd"] == pytest.approx(expected_shift)
    assert x.effect["wasserstein_normed"] == pytest.approx(
        stats.wasserstein_distance(ref["x"], cur["x"]) / ref["x"].std(ddof=0)
    )
    assert k.method == "chi-square homogeneity p_value" and k.effect is not None and "psi" in k.effect
    assert result.dataset_drift and x.drift_detected and not k.drift_detected


def test_status_reads_the_corrected_verdict() -> None:
    rng = np.random.default_rng(5)
    ref = pd.DataFrame(rng.normal(size=(1000, 6)), columns=list("abcdef"))
    cur = pd.DataFrame(rng.normal(size=(150, 6)), columns=list("abcdef"))
    assert detect_drift(ref, cur).status == "ok"
    cur["a"] += 0.3  # a moderate shift in one column of six
    p = detect_drift(ref, cur).columns[0].p_adjusted
    assert p is not None and 0 < p < 0.5
    assert detect_drift(ref, cur, column_fpr=min(1.5 * p, 0.99), family_fpr=p / 2).status == "warning"
    assert detect_drift(ref, cur, column_fpr=min(1.5 * p, 0.99), family_fpr=p).status == "breach"
    assert detect_drift(ref, cur, column_fpr=p / 2, family_fpr=p / 3).status == "ok"


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"preset": "strict"}, "preset"),
        ({"column_fpr": 0.0}, "column_fpr"),
        ({"family_fpr": 1.0}, "family_fpr"),
        ({"correction": "bonferroni"}, "correction"),
    ],
)
def test_bad_options_are_one_sentence(kwargs: dict[str, object], word: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0]})
    with pytest.raises(InvalidInput, match=word):
        detect_drift(frame, frame, **kwargs)  # type: ignore[arg-type]


def test_distance_methods_get_a_bootstrap_p_value_from_the_profiles() -> None:
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"x": rng.normal(size=600), "k": rng.choice(list("abcd"), size=600)})
    same = pd.DataFrame({"x": rng.normal(size=150), "k": rng.choice(list("abcd"), size=150)})
    moved = pd.DataFrame({"x": rng.normal(1.0, size=150), "k": rng.choice(list("aaaabcd"), size=150)})
    methods = {"x": "wasserstein", "k": "psi"}
    clean, drifted = detect_drift(ref, same, methods=methods), detect_drift(ref, moved, methods=methods)
    assert [c.method for c in clean.columns] == [
        "Wasserstein distance (normed) (bootstrap p_value)",
        "PSI (bootstrap p_value)",
    ]
    assert all(c.p_value is not None and c.p_value > 0.05 for c in clean.columns)
    assert all(c.p_value is not None and c.p_value < 0.01 for c in drifted.columns)
    assert detect_drift(ref, moved, methods=methods).to_dict() == drifted.to_dict()  # seeded


# -- calibration: the false-alarm rates are the nominal ones --------------------------------------------
@pytest.mark.slow
def test_clean_gaussian_windows_flag_columns_at_the_nominal_rate() -> None:
    tests = flagged = dataset = 0
    for ref, cur in _gaussian_windows(200, 10, 1000, 150, seed=7):
        result = compare_profiles(build_profile(ref), build_profile(cur))
        tests += len(result.columns)
        flagged += result.drifted_count
        dataset += result.dataset_drift
    assert 0.035 <= flagged / tests <= 0.065  # nominal 0.05; three standard errors either side
    assert dataset <= 6  # nominal 1 % of 200 windows


@pytest.mark.slow
def test_clean_digits_windows_rarely_alarm_where_evidentlys_defaults_always_warn() -> None:
    from sklearn.datasets import load_digits

    frame = pd.DataFrame(load_digits().data, columns=[f"p{i}" for i in range(64)])
    calibrated_warned = evidently_warned = column_alarms = tests = 0
    for i in range(20):
        order = np.random.default_rng(i).permutation(len(frame))
        ref, cur = build_profile(frame.iloc[order[:1200]]), build_profile(frame.iloc[order[1200:1350]])
        ours = compare_profiles(ref, cur)
        calibrated_warned += ours.status != "ok"
        column_alarms += ours.drifted_count
        tests += len(ours.columns)
        evidently_warned += compare_profiles(ref, cur, preset="evidently").status != "ok"
    assert evidently_warned == 20
    assert calibrated_warned <= 2 and column_alarms / tests <= 0.05


# -- multivariate ---------------------------------------------------------------------------------
def test_a_correlation_flip_is_seen_only_by_the_multivariate_tests() -> None:
    ref, cur = _correlation_flip(1500, 300, seed=8)
    assert not detect_drift(ref, cur).dataset_drift
    classifier, pca = multivariate_drift(ref, cur)
    assert classifier.drift_detected and classifier.statistic > classifier.threshold > 0.5
    assert set(classifier.top_features[:2]) == {"a", "b"}
    assert pca.drift_detected and pca.statistic > pca.threshold
    assert set(pca.top_features[:2]) == {"a", "b"}


@pytest.mark.slow
def test_multivariate_tests_stay_quiet_on_clean_windows() -> None:
    alarms = 0
    for seed in range(6):
        ref, _ = _correlation_flip(800, 1, seed=seed)
        same, _ = _correlation_flip(200, 1, seed=100 + seed)
        alarms += domain_classifier_test(ref, same, seed=seed).drift_detected
    assert alarms == 0


@pytest.mark.slow
def test_pca_reconstruction_false_alarms_are_at_most_nominal_on_breast_cancer() -> None:
    from sklearn.datasets import load_breast_cancer

    data = load_breast_cancer()
    frame = pd.DataFrame(data.data, columns=[str(c) for c in data.feature_names])
    alarms = 0
    for i in range(150):
        order = np.random.default_rng(i).permutation(len(frame))
        alarms += pca_reconstruction_test(
            frame.iloc[order[:400]], frame.iloc[order[400:550]], alpha=0.05, seed=i
        ).drift_detected
    assert alarms <= 12  # nominal 5 % of 150 is 7.5


def test_multivariate_needs_enough_rows() -> None:
    ref, cur = _correlation_flip(100, 10, seed=9)
    with pytest.raises(InvalidInput, match="at least 20 current rows"):
        multivariate_drift(ref, cur)


def test_cli_multivariate_names_statistic_threshold_verdict_and_features(tmp_path: Path) -> None:
    ref, cur = _correlation_flip(1500, 300, seed=10)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    result = CliRunner().invoke(
        main, ["drift", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--multivariate", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert not data["dataset_drift"]
    tests = {t["test"]: t for t in data["multivariate"]}
    assert set(tests) == {"domain_classifier", "pca_reconstruction"}
    for t in tests.values():
        assert t["drift_detected"] and t["statistic"] > t["threshold"] and t["p_value"] < 0.01
        assert set(t["top_features"][:2]) == {"a", "b"}
    human = CliRunner().invoke(
        main, ["drift", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--multivariate"]
    )
    assert "domain_classifier: ROC-AUC" in human.stdout and "look at" in human.stdout
