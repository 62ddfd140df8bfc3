"""The benchmark scripts (``make bench``) run, at toy sizes, and still compare against their reference."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


@pytest.mark.slow
def test_the_drift_benchmark_agrees_with_evidently() -> None:
    out = bench("benchmarks/drift.py", "--rows", "3000", "--columns", "3")
    assert re.search(r"agreement: methods 3/3, verdicts 3/3", out), out
    assert re.search(r"speed-up:\s+[\d.]+x", out), out


@pytest.mark.slow
def test_the_drift_oracle_benchmark_agrees_with_evidently() -> None:
    out = bench("benchmarks/drift_oracle.py", "--seeds", "1")
    agree = re.search(r"verdicts agree: (\d+)/(\d+)", out)
    assert agree is not None and agree.group(1) == agree.group(2) and int(agree.group(2)) > 0, out


@pytest.mark.slow
def test_the_concept_drift_benchmark_runs_every_detector() -> None:
    out = bench("-m", "benchmarks.concept_drift", "--seeds", "1")
    assert "ours: ddm" in out and "1 seeds x 3 drifts per stream" in out, out


@pytest.mark.slow
def test_the_training_benchmark_measures_both_models() -> None:
    out = bench("benchmarks/train.py", "--repeats", "1", "--threads", "1")
    for model in ("MLP / breast-cancer", "CNN / digits"):
        line = next((row for row in out.splitlines() if row.startswith(model)), "")
        assert re.search(r"[\d,]+ samples/s .* test accuracy 0\.9\d+", line), out


@pytest.mark.slow
def test_the_drift_calibration_benchmark_compares_both_verdicts() -> None:
    out = bench(
        "benchmarks/drift_calibration.py", "--windows", "3", "--deltas", "1", "--check-evidently", "1"
    )
    assert "Evidently itself gives the same column verdicts on 1/1 clean windows" in out, out
    rows = {
        tuple(line.split()[:2]): line.split()
        for line in out.splitlines()
        if line.split()[1:2] in (["calibrated"], ["evidently"])
    }
    assert set(rows) == {(d, p) for d in ("digits", "breast_cancer") for p in ("calibrated", "evidently")}, (
        out
    )
    assert rows[("digits", "evidently")][3] == "100.0", out  # Evidently's defaults warn on every clean window
    assert rows[("digits", "calibrated")][5] == "100%", out  # a 1-SD shift in 3 columns is found


@pytest.mark.slow
def test_the_estimation_benchmark_compares_with_nannyml() -> None:
    pytest.importorskip("nannyml")
    out = bench("benchmarks/estimation.py", "--rows", "10000")
    rows = [line.split() for line in out.splitlines() if line.startswith(("binary", "multiclass"))]
    scored = [r for r in rows if r[1] in ("roc_auc", "f1", "accuracy")]
    assert len(scored) == 6, out
    for row in scored:
        ours, theirs, realized_differ = float(row[3]), float(row[4]), float(row[5])
        assert realized_differ < 1e-9 and ours <= theirs + 0.005, out


def test_the_window_benchmark_prints_time_and_bytes_beside_the_targets() -> None:
    out = bench("benchmarks/window.py", "--windows", "2", "--monitors", "2")
    assert re.search(
        r"monitor time per window: median [\d.]+ ms, max [\d.]+ ms\s+\(target <= 100 ms\)", out
    ), out
    stored = re.search(r"stored per window: ([\d.]+) kB", out)
    assert stored is not None and float(stored.group(1)) <= 100, out


@pytest.mark.slow
def test_the_scale_benchmark_runs_an_hour_of_windows_with_one_and_two_schedulers() -> None:
    out = bench("benchmarks/scale.py", "--quick", "--rows", "100")
    assert re.search(r"time for the hour's work\s+[\d.]+ s\s+[\d.]+ s\s+<= 18 s", out), out
    assert re.search(r"windows run / twice / lost\s+90/0/0\s+90/0/0\s+90/0/0", out), out
    assert re.search(r"target \(one scheduler, 18 s for 90 windows\): (met|missed by \d+ s)", out), out


@pytest.mark.slow
def test_the_monitor_calibration_benchmark_reports_every_kind() -> None:
    from benchmarks.monitor_calibration import KINDS, table

    out = bench("benchmarks/monitor_calibration.py", "--quick")
    rows = list(table(out))
    assert {r["kind"] for r in rows} == set(KINDS), out
    for r in rows:
        assert int(r["windows"]) > 0, r
        flagged, breached = float(r["warning or breach %"]), float(r["breach %"])
        assert 0.0 <= breached <= flagged <= 100.0, r
    clean = [r for r in rows if r["case"].startswith("clean")]
    planted = [r for r in rows if not r["case"].startswith("clean")]
    assert {r["kind"] for r in clean} == set(KINDS) and planted, out
    # Calibration itself: the kinds measured at 0 % false breaches over 50-100 clean windows breach none here.
    quiet = {"consistency", "attribution_drift"}
    assert all(float(r["breach %"]) == 0.0 for r in clean if r["kind"] in quiet), out
    # model_drift's latencies are timed on this machine: on a shared virtual machine their tail (and so
    # a 150-request window's p95) moves with the neighbours, and one of four quick clean windows has
    # breached there. Bounded, not zero; the full run's 50-window rate is the calibrated figure.
    assert all(float(r["breach %"]) <= 50.0 for r in clean if r["kind"] == "model_drift"), out
    # Changes far beyond any threshold are found: latency doubled, dropout left on, a fifth of labels flipped.
    sure = {("model_drift", "2"), ("consistency", "train mode"), ("concept_drift", "20% of rows")}
    assert all(float(r["breach %"]) == 100.0 for r in planted if (r["kind"], r["size"]) in sure), out
    delays = [r["delay (windows)"] for r in planted if r["kind"] == "concept_drift"]
    assert delays and all(d.startswith("warning ") for d in delays), out
    assert any(r["reference tool"].startswith("Evidently DataSummaryPreset") for r in rows), out
    assert any("river ADWIN" in r["reference tool"] for r in rows), out
