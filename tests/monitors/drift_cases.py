"""Seeded generated data for the drift tests, and Evidently's ``DataDriftPreset`` as the oracle."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

P_VALUE_METHODS = {"K-S p_value": "<=", "chi-square p_value": "<", "Z-test p_value": "<"}
#: Evidently keeps a method given by name under that name in the snapshot
DISPLAY_NAMES = {
    "ks": "K-S p_value",
    "chisquare": "chi-square p_value",
    "z": "Z-test p_value",
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
    "psi": "PSI",
    "kl_div": "Kullback-Leibler divergence",
}


def _numeric(rng: np.random.Generator, n: int, shift: float, kind: str) -> np.ndarray:
    if kind == "normal":
        return rng.normal(shift, 1 + shift / 4, n)
    if kind == "offset":
        return rng.normal(1000 + shift, 2.0, n)
    if kind == "heavy":
        return rng.standard_t(1.5, n) * (1 + shift)
    if kind == "lognormal":
        return rng.lognormal(shift, 1.5, n)
    if kind == "rounded":
        return np.round(rng.normal(shift, 3, n), 1)
    if kind == "constant":
        return np.full(n, 3.0 if shift < 0.2 else 3.5)
    if kind == "mixture":
        return np.where(rng.random(n) < 0.3 + shift / 5, rng.normal(-2, 0.5, n), rng.exponential(2, n))
    raise ValueError(kind)


def generate_case(seed: int, n_ref: int, n_cur: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame with columns of many shapes; drift in some, not others."""
    rng = np.random.default_rng(seed)
    ref: dict[str, Any] = {}
    cur: dict[str, Any] = {}
    for kind in ("normal", "offset", "heavy", "lognormal", "rounded", "mixture", "constant"):
        shift = float(rng.choice([0.0, 0.0, 0.05, 0.2, 0.6]))
        ref[f"f_{kind}"] = _numeric(rng, n_ref, 0.0, kind)
        cur[f"f_{kind}"] = _numeric(rng, n_cur, shift, kind)
    for i, values in enumerate((2, 3, 5, 8, 12, 40, 400)):
        probs = rng.dirichlet(np.ones(values) * 2)
        cur_probs = probs if rng.random() < 0.5 else rng.dirichlet(np.ones(values) * 2)
        ref[f"i_{i}_{values}"] = rng.choice(values, n_ref, p=probs).astype(np.int64)
        cur[f"i_{i}_{values}"] = rng.choice(values + int(rng.integers(0, 2)), n_cur).astype(np.int64)
        if rng.random() < 0.5:
            cur[f"i_{i}_{values}"] = rng.choice(values, n_cur, p=cur_probs).astype(np.int64)
    for name, letters in (("s_binary", "ab"), ("s_few", "abcd"), ("s_new", "abcdef")):
        ref_letters = list(letters[:-1]) if name == "s_new" else list(letters)
        p = rng.dirichlet(np.ones(len(ref_letters)) * 3)
        ref[name] = rng.choice(ref_letters, n_ref, p=p).astype(object)
        cur_letters = list(letters)
        cur[name] = rng.choice(cur_letters, n_cur, p=rng.dirichlet(np.ones(len(cur_letters)) * 3)).astype(
            object
        )
    ref["b_flag"] = rng.random(n_ref) < 0.3
    cur["b_flag"] = rng.random(n_cur) < float(rng.choice([0.3, 0.33, 0.5]))
    # integers: many values in the reference, few in the current (the type follows the current)
    ref["i_narrowed"] = rng.integers(0, 30, n_ref)
    cur["i_narrowed"] = rng.integers(0, int(rng.choice([6, 9])), n_cur)
    # integers with missing values (so floats), few of them; tiny values (the Wasserstein norm floor)
    ref["f_int_missing"] = np.where(rng.random(n_ref) < 0.1, np.nan, rng.integers(0, 4, n_ref))
    cur["f_int_missing"] = np.where(rng.random(n_cur) < 0.2, np.nan, rng.integers(0, 4, n_cur))
    ref["f_tiny"] = rng.normal(0, 1e-4, n_ref)
    cur["f_tiny"] = rng.normal(float(rng.choice([0.0, 1e-4])), 1e-4, n_cur)
    # pandas string and category dtypes
    ref["s_string"] = pd.array(rng.choice(["u", "v", "w"], n_ref), dtype="string")
    cur["s_string"] = pd.array(rng.choice(["u", "v", "w"], n_cur, p=rng.dirichlet([3, 3, 3])), dtype="string")
    ref["c_category"] = pd.Categorical(rng.choice(["lo", "mid", "hi"], n_ref))
    cur["c_category"] = pd.Categorical(rng.choice(["lo", "mid", "hi"], n_cur, p=rng.dirichlet([3, 3, 3])))
    reference, current = pd.DataFrame(ref), pd.DataFrame(cur)
    # missing values in a few float and text columns
    for frame, size in ((reference, n_ref), (current, n_cur)):
        for column in ("f_normal", "f_heavy", "s_few"):
            holes = rng.random(size) < 0.05
            frame.loc[holes, column] = np.nan
    return reference, current


@dataclass(frozen=True)
class OracleColumn:
    column: str
    method: str
    threshold: float
    score: float
    drift_detected: bool


def evidently_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    *,
    methods: dict[str, str] | None = None,
    thresholds: dict[str, float] | None = None,
    drift_share: float = 0.5,
) -> tuple[dict[str, OracleColumn], int, float]:
    """Evidently 0.7's verdicts: per column (method, threshold, score, drift), drifted count, share."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    preset = DataDriftPreset(
        per_column_method=methods or None, per_column_threshold=thresholds or None, drift_share=drift_share
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snapshot = Report([preset]).run(current, reference).dict()
    columns: dict[str, OracleColumn] = {}
    count = share = None
    for metric in snapshot["metrics"]:
        config = metric["config"]
        if config["type"].endswith("DriftedColumnsCount"):
            count, share = int(metric["value"]["count"]), float(metric["value"]["share"])
            continue
        method = DISPLAY_NAMES.get(config["method"], config["method"])
        threshold, score = float(config["threshold"]), float(metric["value"])
        rule = P_VALUE_METHODS.get(method)
        drifted = (
            score <= threshold if rule == "<=" else score < threshold if rule == "<" else score >= threshold
        )
        columns[config["column"]] = OracleColumn(config["column"], method, threshold, score, bool(drifted))
    assert count is not None and share is not None
    return columns, count, share
