"""How often the drift verdicts are wrong: false alarms on clean windows, detection of planted shifts.

On scikit-learn's bundled digits (1,797 rows, 64 columns; reference 1,200 rows) and breast-cancer
(569 rows, 30 columns; reference 400 rows) data, each window is a fresh random split: the
reference and a window of 150 other rows (clean), or the same window with a shift planted in
``--shifted-columns`` random columns: ``delta`` reference standard deviations added to every value.
Both verdicts run on the same windows in one run: the calibrated default and Evidently's defaults
(``preset="evidently"``, which reproduces Evidently 0.7's ``DataDriftPreset``; the first
``--check-evidently`` clean windows are also run through Evidently itself to confirm it).

Printed per dataset and verdict: dataset false alarms per 100 clean windows, clean windows with
some column flagged (the monitor's ``warning``), the share of clean column tests flagged, and the
detection rate (dataset verdict) per shift size.

    python benchmarks/drift_calibration.py [--windows 100] [--deltas 0.1,0.25,0.5,1] [--check-evidently 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.drift import build_profile, compare_profiles

PRESETS = ("calibrated", "evidently")


@dataclass
class Tally:
    windows: int = 0
    dataset_alarms: int = 0
    warned: int = 0
    column_tests: int = 0
    column_alarms: int = 0
    detected: dict[float, int] = field(default_factory=dict)
    seconds: float = 0.0


def load(name: str) -> tuple[pd.DataFrame, int]:
    from sklearn.datasets import load_breast_cancer, load_digits

    if name == "digits":
        data = load_digits()
        return pd.DataFrame(data.data, columns=[f"pixel_{i}" for i in range(64)]), 1200
    data = load_breast_cancer()
    return pd.DataFrame(data.data, columns=[str(c) for c in data.feature_names]), 400


def shifted(window: pd.DataFrame, reference: pd.DataFrame, columns: list[str], delta: float) -> pd.DataFrame:
    out = window.copy()
    for c in columns:
        out[c] = out[c] + delta * float(reference[c].std(ddof=0))
    return out


def run(
    dataset: str, windows: int, window_rows: int, deltas: list[float], k: int, check: int
) -> dict[str, Tally]:
    frame, n_ref = load(dataset)
    tallies = {p: Tally(detected=dict.fromkeys(deltas, 0)) for p in PRESETS}
    varying = [c for c in frame.columns if frame[c].std() > 0]
    agree = checked = 0
    for i in range(windows):
        rng = np.random.default_rng(10_000 + i)
        order = rng.permutation(len(frame))
        reference = frame.iloc[order[:n_ref]].reset_index(drop=True)
        window = frame.iloc[order[n_ref : n_ref + window_rows]].reset_index(drop=True)
        ref_profile = build_profile(reference)
        chosen = list(rng.choice(varying, size=k, replace=False))
        cases = [(None, window)] + [(d, shifted(window, reference, chosen, d)) for d in deltas]
        for delta, current in cases:
            cur_profile = build_profile(current)
            for preset in PRESETS:
                start = time.perf_counter()
                result = compare_profiles(ref_profile, cur_profile, preset=preset)
                tally = tallies[preset]
                tally.seconds += time.perf_counter() - start
                if delta is None:
                    tally.windows += 1
                    tally.dataset_alarms += result.dataset_drift
                    tally.warned += result.status != "ok"
                    tally.column_tests += len(result.columns)
                    tally.column_alarms += result.drifted_count
                    if preset == "evidently" and checked < check:
                        from tests.monitors.drift_cases import evidently_drift

                        oracle, _, _ = evidently_drift(reference, current)
                        checked += 1
                        agree += all(
                            oracle[c.column].drift_detected == c.drift_detected for c in result.columns
                        )
                else:
                    tally.detected[delta] += result.dataset_drift
    if check:
        print(
            f"{dataset}: Evidently itself gives the same column verdicts on {agree}/{checked} clean windows"
        )
    return tallies


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=100)
    parser.add_argument("--window-rows", type=int, default=150)
    parser.add_argument("--deltas", default="0.1,0.25,0.5,1")
    parser.add_argument("--shifted-columns", type=int, default=3)
    parser.add_argument("--check-evidently", type=int, default=2)
    parser.add_argument("--datasets", default="digits,breast_cancer")
    args = parser.parse_args()
    deltas = [float(d) for d in args.deltas.split(",")]
    print(
        f"{args.windows} windows of {args.window_rows} rows per dataset; shifts of delta reference SDs "
        f"in {args.shifted_columns} random columns; calibrated: column FPR 0.05, Holm, family-wise 0.01"
    )
    header = (
        f"{'dataset':<14}{'verdict':<12}{'dataset alarms/100':>19}{'warned/100':>12}{'column FPR %':>13}"
        + "".join(f"{'detect d=' + format(d, 'g'):>15}" for d in deltas)
        + f"{'ms/window':>11}"
    )
    lines = []
    for dataset in args.datasets.split(","):
        tallies = run(
            dataset, args.windows, args.window_rows, deltas, args.shifted_columns, args.check_evidently
        )
        for preset, t in tallies.items():
            per = 100.0 / max(t.windows, 1)
            lines.append(
                f"{dataset:<14}{preset:<12}{t.dataset_alarms * per:>19.1f}{t.warned * per:>12.1f}"
                f"{100.0 * t.column_alarms / max(t.column_tests, 1):>13.1f}"
                + "".join(f"{100.0 * t.detected[d] / max(t.windows, 1):>14.0f}%" for d in deltas)
                + f"{1000 * t.seconds / max(t.windows * (1 + len(deltas)), 1):>11.1f}"
            )
    print(header)
    for line in lines:
        print(line)


if __name__ == "__main__":
    main()
