"""A wide agreement sweep of the drift engine against Evidently 0.7's ``DataDriftPreset``.

The test suite runs a few of these cases; this runs many (a few minutes) and prints the
statistics: columns compared, verdict and method agreement, the largest relative score difference.

    python benchmarks/drift_oracle.py [--seeds 12]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.drift import detect_drift
from tests.monitors.drift_cases import evidently_drift, generate_case

SIZES = [(30, 40), (300, 250), (900, 1200), (1000, 400), (1001, 800), (2500, 3000)]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=12)
    args = parser.parse_args()
    columns = same_verdict = same_method = same_count = cases = 0
    worst = 0.0
    ours_s = theirs_s = 0.0
    for seed in range(args.seeds):
        for n_ref, n_cur in SIZES:
            reference, current = generate_case(1000 + seed, n_ref, n_cur)
            start = time.perf_counter()
            oracle, count, _ = evidently_drift(reference, current)
            theirs_s += time.perf_counter() - start
            start = time.perf_counter()
            result = detect_drift(reference, current, preset="evidently")
            ours_s += time.perf_counter() - start
            cases += 1
            same_count += result.drifted_count == count
            for ours in result.columns:
                theirs = oracle[ours.column]
                columns += 1
                same_verdict += ours.drift_detected == theirs.drift_detected
                same_method += ours.method == theirs.method and ours.threshold == theirs.threshold
                if not (math.isnan(ours.score) and math.isnan(theirs.score)) and ours.score != theirs.score:
                    worst = max(worst, abs(ours.score - theirs.score) / max(abs(theirs.score), 1e-12))
    print(f"{cases} cases, {columns} columns (sizes {SIZES})")
    print(f"verdicts agree: {same_verdict}/{columns} ({100 * same_verdict / columns:.2f} %)")
    print(f"methods and thresholds agree: {same_method}/{columns}")
    print(f"drifted-column counts agree: {same_count}/{cases} cases")
    print(f"largest relative score difference: {worst:.2e}")
    print(f"time: evidently {theirs_s:.1f} s, ours {ours_s:.1f} s")


if __name__ == "__main__":
    main()
