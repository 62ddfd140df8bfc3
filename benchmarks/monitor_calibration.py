"""How often each monitor kind is wrong: false alarms on clean windows, detection of planted changes.

Every figure comes from the monitor's own pure check, called with the defaults its scheduled
check (``monitors/checks.py``) uses, on real data and real small models trained by the platform's
trainer (``trainer.loop.train``: an MLP with one hidden layer of 64, standardising its raw inputs)
on scikit-learn's digits (1,797 rows, 64 pixel columns, 10 classes) and breast-cancer (569 rows,
30 columns) data, split 50 / 15 / 35 % into training, validation and a held-out pool. A *clean
window* is a fresh random sample of the held-out pool (the same distribution as the reference) of
``--rows`` rows on digits and half as many on breast-cancer (whose pool has 199 rows); a *planted*
window is one with a change of known size. Per kind:

* ``model_drift``: the latencies are real: the digits model scoring one row at a time on this
  machine, timed; errors are drawn at 1 %. The baseline is one window of requests (the runner's
  default), thresholds ``p95_relative=1.5, error_rate=0.05``. Planted: every latency multiplied,
  or the error rate raised.
* ``quality``: the window's features, labels and the model's predictions against the training
  rows as reference, as the scheduled check passes them. Planted: missing values or values at 10x
  the reference's largest in 3 random columns, in a share of rows. Beside it Evidently's
  ``DataSummaryPreset`` with its tests generated from the reference (failed tests other than the
  row count, which differs by construction).
* ``consistency``: the model's outputs over batch sizes and repeats. Planted: noise of a given
  size on every output (a non-deterministic kernel), and dropout left on (a model in train mode).
* ``attribution_drift``: Integrated Gradients on the reference and the window, NDCG@10 against
  0.9. Planted: the reference's 3 most important features set to their reference mean (an
  upstream column imputed) in a share of the window's rows.
* ``concept_drift``: window accuracy against the model's validation accuracy (``max_drop`` 0.05,
  ``warn_drop`` 0.02, bootstrap interval); a new model per seed, so the baseline's own noise is
  in the figure. Planted: a share of the window's labels flipped to another class. Delay: a stream
  of clean windows, then windows with flipped labels; windows from the change to the first
  warning / breach, with river's ADWIN and DDM on the same records' error stream beside it.
* ``robustness``: FGSM and PGD over the check's ε grid, breach below worst-case accuracy 0.5 at
  ε 0.1. It judges the model, not the window, so no change is planted: the figure is how often a
  window's verdict differs from the whole pool's, and how often the guards warn on a healthy model.

``data_drift`` and ``performance_estimation`` are measured by ``benchmarks/drift_calibration.py``
and ``benchmarks/estimation.py``. Rates are per cent of windows: for a clean row the false-alarm
rate (warning or worse, and breach), for a planted row the detection rate.

    python benchmarks/monitor_calibration.py [--windows 100] [--kinds model_drift,quality,...] [--quick]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.consistency import check_consistency
from monitors.insight import NDCG_THRESHOLD
from monitors.operational import assess_operational
from monitors.performance import assess_performance
from monitors.quality import assess_quality
from monitors.result import Status
from monitors.robustness import assess_robustness, evaluate_robustness_breach

KINDS = ("model_drift", "quality", "consistency", "attribution_drift", "concept_drift", "robustness")
OPERATIONAL_THRESHOLDS = {"p95_relative": 1.5, "error_rate": 0.05}  # the check's defaults


@dataclass
class Row:
    """One line of the table: a kind on one data set, clean or with one planted change."""

    kind: str
    data: str
    rows: int
    case: str
    size: str
    windows: int = 0
    flagged: int = 0  # warning or breach
    breached: int = 0
    delay: str = "-"
    reference: str = "-"

    def add(self, status: Status) -> None:
        self.windows += 1
        self.flagged += status is not Status.OK
        self.breached += status is Status.BREACH

    def cells(self) -> list[str]:
        share = 100.0 / max(self.windows, 1)
        return [
            self.kind,
            self.data,
            str(self.rows),
            self.case,
            self.size,
            str(self.windows),
            f"{self.flagged * share:.1f}",
            f"{self.breached * share:.1f}",
            self.delay,
            self.reference,
        ]


HEADER = (
    "kind",
    "data",
    "window rows",
    "case",
    "size",
    "windows",
    "warning or breach %",
    "breach %",
    "delay (windows)",
    "reference tool",
)


# -- data and models ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Trained:
    """A model trained by the platform's trainer, its reference rows and the held-out pool."""

    data: str
    features: tuple[str, ...]
    classes: tuple[Any, ...]
    module: nn.Module
    reference: pd.DataFrame  # training rows: features and "label"
    pool: pd.DataFrame  # held-out rows: features and "label"
    baseline_accuracy: float  # validation accuracy, the concept-drift monitor's baseline
    baseline_rows: int  # ... and the rows it was measured on

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        x = torch.from_numpy(frame[list(self.features)].to_numpy(np.float32))
        with torch.no_grad():
            index = self.module(x).argmax(1).numpy()
        return np.asarray(self.classes)[index]

    def window(self, rng: np.random.Generator, rows: int) -> pd.DataFrame:
        chosen = rng.choice(len(self.pool), size=min(rows, len(self.pool)), replace=False)
        return self.pool.iloc[np.sort(chosen)].reset_index(drop=True)


@cache
def trained(data: str, seed: int = 0, dropout: float = 0.0) -> Trained:
    from sklearn.datasets import load_breast_cancer, load_digits

    from trainer.architectures import MLPConfig
    from trainer.config import TrainConfig
    from trainer.data import split_training_set, to_tensors
    from trainer.loop import train

    loader = {"digits": load_digits, "breast_cancer": load_breast_cancer}[data]
    frame = loader(as_frame=True).frame.rename(columns={"target": "label"})
    features = [str(c) for c in frame.columns if c != "label"]
    splits = split_training_set(
        frame, None, label="label", features=features, seed=seed, validation_fraction=0.15, test_fraction=0.35
    )
    tensors = to_tensors(splits)
    architecture = MLPConfig(
        n_features=len(features), n_outputs=tensors.n_classes, hidden=(64,), dropout=dropout, standardize=True
    )
    config = TrainConfig(epochs=60, patience=10, device="cpu", cpu_threads=1, seed=seed)
    result = train(architecture, tensors, config)
    columns = [*features, "label"]
    return Trained(
        data=data,
        features=tuple(features),
        classes=tuple(splits.classes),
        module=result.module.eval(),
        reference=splits.train[columns].reset_index(drop=True),
        pool=splits.test[columns].reset_index(drop=True),
        baseline_accuracy=float(result.val_metrics["accuracy"]),
        baseline_rows=len(splits.validation),
    )


def window_rows(data: str, rows: int) -> int:
    """Rows per window: ``rows`` on digits (held-out pool 629), half on breast-cancer (pool 199)."""
    return rows if data == "digits" else rows // 2


def _rng(*key: int) -> np.random.Generator:
    return np.random.default_rng([20_260_000, *key])


# -- model drift (operational) ----------------------------------------------------------------------
def measured_latencies(model: Trained, count: int) -> np.ndarray:
    """Milliseconds the model took to score one row, ``count`` requests, on this machine."""
    x = model.pool[list(model.features)].to_numpy(np.float32)
    out = np.empty(count)
    with torch.no_grad():
        for i in range(count):
            row = torch.from_numpy(x[i % len(x)][None])
            started = time.perf_counter()
            model.module(row)
            out[i] = 1000.0 * (time.perf_counter() - started)
    return out


def _requests(
    latency: np.ndarray, error_rate: float, rng: np.random.Generator, seconds: float
) -> pd.DataFrame:
    n = len(latency)
    return pd.DataFrame(
        {
            "timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(np.linspace(0, seconds * (n - 1) / n, n), unit="s"),
            "latency_ms": latency,
            "error": rng.random(n) < error_rate,
        }
    )


def model_drift(windows: int, rows: int, quick: bool) -> list[Row]:
    latencies = measured_latencies(trained("digits"), 1_500 if quick else 8_000)
    seconds = 60.0
    cases: list[tuple[str, str, float, float]] = [("clean", "-", 1.0, 0.01)]
    cases += [("latency x", f"{f:g}", f, 0.01) for f in (1.2, 1.5, 2.0)]
    cases += [("error rate", f"{r:.0%}", 1.0, r) for r in (0.03, 0.05, 0.1)]
    out = [Row("model_drift", "digits MLP latency", rows, case, size) for case, size, _, _ in cases]
    for w in range(windows):
        rng = _rng(1, w)
        drawn = rng.choice(latencies, size=2 * rows, replace=True)
        baseline = _requests(drawn[:rows], 0.01, rng, seconds)
        for row, (_, _, factor, rate) in zip(out, cases, strict=True):
            current = _requests(drawn[rows:] * factor, rate, rng, seconds)
            result = assess_operational(
                current, baseline, window_seconds=seconds, thresholds=OPERATIONAL_THRESHOLDS
            )
            row.add(result.status)
    p50, p95 = np.percentile(latencies, [50, 95])
    print(f"# model_drift: {len(latencies)} timed requests, p50 {p50:.3f} ms, p95 {p95:.3f} ms")
    return out


# -- quality --------------------------------------------------------------------------------------
def _planted_quality(
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    columns: list[str],
    kind: str,
    share: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    out = frame.copy()
    n = len(out)
    for column in columns:
        hit = rng.choice(n, size=max(1, round(share * n)), replace=False)
        if kind == "missing":
            out.loc[hit, column] = np.nan
        else:
            out.loc[hit, column] = 10.0 * float(np.abs(reference[column]).max()) + 1.0
    return out


def _quality_status(model: Trained, frame: pd.DataFrame) -> Status:
    features = list(model.features)
    scored = frame.assign(prediction=model.predict(frame.fillna(model.reference[features].mean())))
    return assess_quality(
        scored,
        label="label",
        prediction="prediction",
        min_examples=100,
        reference=model.reference[features],
    ).status


def _evidently_failures(reference: pd.DataFrame, current: pd.DataFrame) -> int:
    """Tests Evidently's DataSummaryPreset (tests generated from the reference) fails, row count aside."""
    from evidently import Report
    from evidently.presets import DataSummaryPreset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tests = Report([DataSummaryPreset()], include_tests=True).run(current, reference).dict()["tests"]
    return sum(
        str(getattr(t["status"], "value", t["status"])) == "FAIL" and not t["name"].startswith("Row count")
        for t in tests
    )


def quality(windows: int, rows: int, evidently_windows: int) -> list[Row]:
    out: list[Row] = []
    for data in ("digits", "breast_cancer"):
        model, n = trained(data), window_rows(data, rows)
        cases = [("clean", "-", 0.0)] + [
            (k, f"{s:.0%} of rows in 3 columns", s)
            for k in ("missing", "out of range")
            for s in (0.01, 0.05, 0.2)
        ]
        rows_ = [Row("quality", data, n, case, size) for case, size, _ in cases]
        theirs = [[0, 0] for _ in cases]
        varying = [c for c in model.features if model.reference[c].std() > 0]
        for w in range(windows):
            rng = _rng(2, w)
            window = model.window(rng, n)
            chosen = list(rng.choice(varying, size=3, replace=False))
            for i, (row, (case, _, share)) in enumerate(zip(rows_, cases, strict=True)):
                frame = (
                    window
                    if case == "clean"
                    else _planted_quality(window, model.reference, chosen, case, share, rng)
                )
                row.add(_quality_status(model, frame))
                if w < evidently_windows and share in (0.0, 0.05):  # seconds each
                    theirs[i][0] += 1
                    theirs[i][1] += _evidently_failures(model.reference, frame) > 0
        for row, (n, failed) in zip(rows_, theirs, strict=True):
            if n:
                row.reference = f"Evidently DataSummaryPreset tests: {100.0 * failed / n:.0f} % of {n}"
        out += rows_
    return out


# -- consistency ----------------------------------------------------------------------------------
class _Noisy(nn.Module):
    """The model with fresh noise of ``scale`` times each output's size on every call."""

    def __init__(self, module: nn.Module, scale: float, seed: int) -> None:
        super().__init__()
        self.module, self.scale = module, scale
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.module(x)
        noise = torch.randn(out.shape, generator=self.generator)
        return out + self.scale * out.abs().clamp_min(1.0) * noise


def consistency(windows: int, rows: int) -> list[Row]:
    model = trained("digits")
    dropped = trained("digits", dropout=0.2)
    scales = (1e-6, 1e-5, 1e-4, 1e-3)
    out = [Row("consistency", "digits MLP", rows, "clean", "-")]
    out += [Row("consistency", "digits MLP", rows, "output noise", f"{s:g} x |output|") for s in scales]
    out.append(Row("consistency", "digits MLP", rows, "dropout 0.2 left on", "train mode"))
    margins = []
    for w in range(windows):
        x = model.window(_rng(3, w), rows)[list(model.features)].to_numpy(np.float32)
        clean = check_consistency(model.module, x)
        margins.append(clean.max_abs_diff)
        out[0].add(clean.status)
        for row, scale in zip(out[1:], scales, strict=False):
            row.add(check_consistency(_Noisy(model.module, scale, w), x).status)
        out[-1].add(check_consistency(dropped.module.train(), x).status)
        dropped.module.eval()
    print(f"# consistency: largest clean difference {max(margins):.3g} (tolerance 1e-4 + 1e-4 x |output|)")
    return out


# -- attribution drift ----------------------------------------------------------------------------
def _explained(model: Trained, x: np.ndarray, baseline: np.ndarray) -> Any:
    """Global Integrated Gradients attributions, as the attribution-drift check computes them."""
    from monitors.insight import attribute

    found = attribute(model.module, x, baseline=baseline, feature_names=model.features, log_warnings=False)
    return found.global_attribution()


def attribution_drift(windows: int, rows: int) -> list[Row]:
    """As ``assess_attribution_drift`` (the check's call), with the reference's attributions computed
    once per data set rather than once per window: the same numbers, a third of the time."""
    from monitors.insight import attribution_drift as compare

    out: list[Row] = []
    shares = (0.1, 0.25, 0.5, 1.0)
    for data in ("digits", "breast_cancer"):
        model, n = trained(data), window_rows(data, rows)
        features = list(model.features)
        reference = model.reference[features].to_numpy(np.float32)
        mean = reference.mean(axis=0)
        if len(reference) > 300:  # the check's max_rows, drawn with its default seed
            reference = reference[
                np.sort(np.random.default_rng(0).choice(len(reference), 300, replace=False))
            ]
        ref_global = _explained(model, reference, mean)
        top = np.asarray([features.index(f) for f in ref_global.ranking()[:3]])
        rows_ = [Row("attribution_drift", data, n, "clean", "-")]
        rows_ += [
            Row("attribution_drift", data, n, "top 3 features imputed", f"{s:.0%} of rows") for s in shares
        ]
        for w in range(windows):
            rng = _rng(4, w)
            x = model.window(rng, n)[features].to_numpy(np.float32)
            cases = [x]
            for share in shares:
                planted = x.copy()
                hit = rng.choice(len(x), size=max(1, round(share * len(x))), replace=False)
                planted[np.ix_(hit, top)] = mean[top]
                cases.append(planted)
            for row, current in zip(rows_, cases, strict=True):
                drift = compare(
                    ref_global, _explained(model, current, mean), top_k=10, threshold=NDCG_THRESHOLD
                )
                row.add(drift.status)
        out += rows_
    return out


# -- concept drift --------------------------------------------------------------------------------
def _flipped(
    labels: np.ndarray, classes: tuple[Any, ...], share: float, rng: np.random.Generator
) -> np.ndarray:
    out = labels.copy()
    hit = rng.choice(len(out), size=round(share * len(out)), replace=False)
    for i in hit:
        others = [c for c in classes if c != out[i]]
        out[i] = others[rng.integers(len(others))]
    return out


def _performance_status(
    model: Trained, labels: np.ndarray, predicted: np.ndarray, seed: int, with_rows: bool = False
) -> Status:
    # The check's defaults: max_drop 0.05, warn_drop 0.02, warn_fpr 0.05, 200 bootstrap resamples;
    # ``with_rows``: the validation set's size given (``--param baseline_rows=N``).
    return assess_performance(
        labels,
        predicted,
        baseline={"accuracy": model.baseline_accuracy},
        baseline_rows=model.baseline_rows if with_rows else None,
        seed=seed,
    ).status


def _first_at_or_after(points: list[int], start: int, rows: int) -> float | None:
    """Windows from the change to the first point at or after it (1: within the first window)."""
    after = [p for p in points if p >= start]
    return (after[0] - start) // rows + 1 if after else None


def _mean_delay(values: list[float], seeds: int) -> str:
    return f"{np.mean(values):.1f} ({len(values)}/{seeds})" if values else f"- (0/{seeds})"


def _stream_delays(data: str, rows: int, share: float, seeds: int, before: int) -> tuple[str, str]:
    """``before`` clean windows, then windows with ``share`` of labels flipped: windows to the
    monitor's first warning and breach after the change, and to river's ADWIN and DDM reading the
    same records' errors in order (and their alarms before the change)."""
    from monitors.concept_drift import detect_drift_points

    delays: dict[str, list[float]] = {"warning": [], "breach": [], "adwin": [], "ddm": []}
    early = {"adwin": 0, "ddm": 0}
    for seed in range(seeds):
        model = trained(data, seed)
        rng = _rng(6, seed)
        errors = []
        found: dict[str, int | None] = {"warning": None, "breach": None}
        for k in range(2 * before):
            window = model.window(rng, rows)
            predicted, labels = model.predict(window), window["label"].to_numpy()
            if k >= before:
                labels = _flipped(labels, model.classes, share, rng)
                status = _performance_status(model, labels, predicted, k)
                if found["warning"] is None and status is not Status.OK:
                    found["warning"] = k - before + 1
                if found["breach"] is None and status is Status.BREACH:
                    found["breach"] = k - before + 1
            errors.append(labels != predicted)
        for level, at in found.items():
            if at is not None:
                delays[level].append(float(at))
        stream = np.concatenate(errors).astype(float)
        for name in ("adwin", "ddm"):
            points = detect_drift_points(stream, detector=name)
            early[name] += sum(p < before * rows for p in points)
            delay = _first_at_or_after(points, before * rows, rows)
            if delay is not None:
                delays[name].append(delay)
    ours = f"warning {_mean_delay(delays['warning'], seeds)}, breach {_mean_delay(delays['breach'], seeds)}"
    theirs = (
        f"river ADWIN {_mean_delay(delays['adwin'], seeds)}, DDM {_mean_delay(delays['ddm'], seeds)}; "
        f"their alarms before the change: ADWIN {early['adwin']}, DDM {early['ddm']} in {seeds} x {before} windows"
    )
    return ours, theirs


def concept_drift(windows: int, rows: int, seeds: int, stream_windows: int) -> list[Row]:
    out: list[Row] = []
    shares = (0.05, 0.1, 0.2)
    for data in ("digits", "breast_cancer"):
        n = window_rows(data, rows)
        clean = Row("concept_drift", data, n, "clean", "-")
        exact = Row("concept_drift", data, n, "clean, --param baseline_rows", "-")
        planted = [Row("concept_drift", data, n, "labels flipped", f"{s:.0%} of rows") for s in shares]
        per_seed = max(1, windows // seeds)
        for seed in range(seeds):
            model = trained(data, seed)
            for w in range(per_seed):
                rng = _rng(5, seed, w)
                window = model.window(rng, n)
                predicted, labels = model.predict(window), window["label"].to_numpy()
                clean.add(_performance_status(model, labels, predicted, w))
                exact.add(_performance_status(model, labels, predicted, w, with_rows=True))
                for row, share in zip(planted, shares, strict=True):
                    flipped = _flipped(labels, model.classes, share, rng)
                    row.add(_performance_status(model, flipped, predicted, w))
        for row, share in zip(planted, shares, strict=True):
            row.delay, row.reference = _stream_delays(data, n, share, seeds, stream_windows)
        out += [clean, exact, *planted]
    return out


# -- robustness -----------------------------------------------------------------------------------
def _attacked(model: Trained, frame: pd.DataFrame, rows: int, seed: int) -> Any:
    """The robustness check's run: FGSM and PGD over its epsilon grid, at most ``rows`` rows."""
    features = list(model.features)
    index = {c: i for i, c in enumerate(model.classes)}
    return assess_robustness(
        model.module,
        frame[features].to_numpy(np.float32),
        np.asarray([index[v] for v in frame["label"]]),
        epsilons=(0.0, 0.05, 0.1, 0.2),
        attacks=("fgsm", "pgd"),
        reference=model.reference[features].to_numpy(np.float32),
        max_samples=rows,
        seed=seed,
        device="cpu",
    )


def robustness(windows: int, rows: int) -> list[Row]:
    out: list[Row] = []
    epsilon, minimum = 0.1, 0.5  # the check's defaults
    for data in ("digits", "breast_cancer"):
        model, n = trained(data), window_rows(data, rows)
        whole = _attacked(model, model.pool, len(model.pool), 0)
        truth = evaluate_robustness_breach(whole, epsilon=epsilon, min_accuracy=minimum).status
        row = Row("robustness", data, n, "clean (verdict differs from the whole pool's)", "-")
        values, guards = [], 0
        for w in range(windows):
            result = _attacked(model, model.window(_rng(7, w), n), n, w)
            verdict = evaluate_robustness_breach(result, epsilon=epsilon, min_accuracy=minimum)
            values.append(verdict.value)
            guards += bool(result.warnings)
            row.windows += 1
            row.flagged += verdict.status != truth or bool(result.warnings)
            row.breached += verdict.status != truth
        row.reference = (
            f"whole pool ({len(model.pool)} rows): worst case {whole.worst_case_at(epsilon):.3f} at eps "
            f"{epsilon:g} ({truth}); windows {np.mean(values):.3f} +/- {np.std(values):.3f}; "
            f"guards warned on {guards}"
        )
        out.append(row)
    return out


# -- the run --------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--windows",
        type=int,
        default=100,
        help="clean windows per kind and data set (half for quality and attributions)",
    )
    parser.add_argument("--rows", type=int, default=150, help="rows (or requests) per window")
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--seeds", type=int, default=5, help="models trained per data set for concept drift")
    parser.add_argument("--evidently-windows", type=int, default=2)
    parser.add_argument("--robustness-windows", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a few windows of each, for the tests")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore", category=UserWarning)  # Captum's batch-size notes, Evidently's
    torch.set_num_threads(1)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = sorted(set(kinds) - set(KINDS))
    if unknown:
        parser.error(f"unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}")
    windows = 4 if args.quick else args.windows
    seeds = 2 if args.quick else args.seeds
    runs: dict[str, Callable[[], list[Row]]] = {
        "model_drift": lambda: model_drift(windows, args.rows, args.quick),
        "quality": lambda: quality(
            max(windows // 2, 2), args.rows, 1 if args.quick else args.evidently_windows
        ),
        "consistency": lambda: consistency(windows, args.rows),
        "attribution_drift": lambda: attribution_drift(max(windows // 2, 2), args.rows),
        "concept_drift": lambda: concept_drift(windows, args.rows, seeds, 3 if args.quick else 10),
        "robustness": lambda: robustness(2 if args.quick else args.robustness_windows, args.rows),
    }
    print(
        f"{windows} clean windows of {args.rows} rows per kind and data set; torch 1 thread, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
    )
    rows: list[Row] = []
    for kind in kinds:
        started = time.perf_counter()
        rows += runs[kind]()
        print(f"# {kind}: {time.perf_counter() - started:.1f} s", flush=True)
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "|".join("---" for _ in HEADER) + "|")
    for row in rows:
        print("| " + " | ".join(row.cells()) + " |")


def table(text: str) -> Iterator[dict[str, str]]:
    """The rows of the printed table as dictionaries (for the tests)."""
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == len(HEADER) and cells[0] != HEADER[0]:
            yield dict(zip(HEADER, cells, strict=True))


if __name__ == "__main__":
    main()
