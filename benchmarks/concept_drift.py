"""Concept drift detection on river's synthetic streams with known drift points.

Each stream chains four concepts through nested ``ConceptDriftStream``s (drifts at 2,500, 5,000
and 7,500 of 10,000 records, transition width 50). A Hoeffding tree learns online, predicting
each record before learning it; its 0/1 error stream goes to every detector of
``monitors.concept_drift.detect_drift_points`` and, side by side, to river's ADWIN called directly.

A drift at position ``p`` is detected when a detector fires in ``[p, min(p + tolerance, next drift))``;
the delay is the first such firing minus ``p``. Every other firing is a false alarm (including a
second firing for the same drift). Run::

    python -m benchmarks.concept_drift [--seeds 5] [--tolerance 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from river import drift, tree
from river.datasets import synth

from monitors.concept_drift import detect_drift_points

N = 10_000
DRIFTS = (2_500, 5_000, 7_500)
WIDTH = 50


def _chain(concepts: list[synth.base.SyntheticDataset], seed: int) -> synth.ConceptDriftStream:
    stream = concepts[-1]
    for concept, position in zip(reversed(concepts[:-1]), reversed(DRIFTS), strict=True):
        stream = synth.ConceptDriftStream(concept, stream, position=position, width=WIDTH, seed=seed)
    return stream


STREAMS: dict[str, Callable[[int], synth.ConceptDriftStream]] = {
    "SEA": lambda s: _chain([synth.SEA(variant=v, seed=s) for v in (0, 3, 1, 2)], s),
    "Agrawal": lambda s: _chain([synth.Agrawal(classification_function=f, seed=s) for f in (0, 2, 4, 6)], s),
    "STAGGER": lambda s: _chain([synth.STAGGER(classification_function=f, seed=s) for f in (0, 1, 2, 0)], s),
}


def error_stream(stream: synth.ConceptDriftStream) -> np.ndarray:
    """Predict-then-learn 0/1 errors of a Hoeffding tree."""
    model = tree.HoeffdingTreeClassifier()
    errors = np.empty(N, dtype=bool)
    for i, (x, y) in enumerate(stream.take(N)):
        errors[i] = model.predict_one(x) != y
        model.learn_one(x, y)
    return errors


def river_adwin_alone(errors: np.ndarray) -> list[int]:
    detector = drift.ADWIN()
    points = []
    for i, error in enumerate(errors.tolist()):
        detector.update(float(error))
        if detector.drift_detected:
            points.append(i)
    return points


DETECTORS: dict[str, Callable[[np.ndarray], list[int]]] = {
    "river ADWIN alone": river_adwin_alone,
    "ours: adwin": lambda e: detect_drift_points(e, detector="adwin"),
    "ours: page-hinkley": lambda e: detect_drift_points(e, detector="page-hinkley"),
    "ours: ddm": lambda e: detect_drift_points(e, detector="ddm"),
    "ours: eddm": lambda e: detect_drift_points(e, detector="eddm"),
    "ours: vote (2 of adwin, page-hinkley, ddm)": lambda e: detect_drift_points(e, detector="vote"),
}


@dataclass
class Score:
    delays: list[int]
    missed: int = 0
    false_alarms: int = 0


def score(points: list[int], tolerance: int) -> Score:
    result = Score(delays=[])
    used: set[int] = set()
    for k, p in enumerate(DRIFTS):
        end = min(p + tolerance, DRIFTS[k + 1] if k + 1 < len(DRIFTS) else N)
        hits = [q for q in points if p <= q < end]
        if hits:
            result.delays.append(hits[0] - p)
            used.add(hits[0])
        else:
            result.missed += 1
    result.false_alarms = len([q for q in points if q not in used])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--tolerance", type=int, default=1000)
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for stream_name, make in STREAMS.items():
        totals = {name: Score(delays=[]) for name in DETECTORS}
        error_rates = []
        for seed in range(args.seeds):
            errors = error_stream(make(seed))
            error_rates.append(errors.mean())
            for name, detect in DETECTORS.items():
                s = score(detect(errors), args.tolerance)
                totals[name].delays += s.delays
                totals[name].missed += s.missed
                totals[name].false_alarms += s.false_alarms
        for name, total in totals.items():
            drifts = len(DRIFTS) * args.seeds
            delay = f"{statistics.mean(total.delays):.0f}" if total.delays else "-"
            median = f"{statistics.median(total.delays):.0f}" if total.delays else "-"
            rows.append(
                (
                    stream_name,
                    name,
                    f"{drifts - total.missed}/{drifts}",
                    delay,
                    median,
                    str(total.missed),
                    str(total.false_alarms),
                )
            )
        print(f"# {stream_name}: mean online error {statistics.mean(error_rates):.3f}")
    header = ("stream", "detector", "detected", "mean delay", "median delay", "missed", "false alarms")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(
        f"\n{args.seeds} seeds x {len(DRIFTS)} drifts per stream, tolerance {args.tolerance}; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
