from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from governance.errors import InvalidInput
from monitors.operational import assess_operational, request_metrics

START = pd.Timestamp("2026-03-01 12:00", tz="UTC")


def _requests(
    seconds: int, rate: int, *, median_ms: float = 50.0, error_rate: float = 0.01, seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = seconds * rate
    return pd.DataFrame(
        {
            "timestamp": START + pd.to_timedelta(np.arange(n) / rate, unit="s"),
            "latency_ms": rng.lognormal(np.log(median_ms), 0.4, n),
            "error": rng.random(n) < error_rate,
        }
    )


THRESHOLDS = {"p95_relative": 1.5, "p99_ms": 250.0, "error_rate": 0.05, "min_throughput_per_s": 5.0}


def test_steady_serving_is_ok() -> None:
    baseline = _requests(600, 10, seed=1)
    result = assess_operational(
        _requests(300, 10, seed=2), baseline, window_seconds=60, thresholds=THRESHOLDS
    )
    assert result.status == "ok", result.summary
    assert result.metrics["windows"] == 5
    assert result.thresholds["baseline_throughput_per_s"] == pytest.approx(10.0)
    assert result.metrics["p50_ms"] == pytest.approx(50, rel=0.1)


def test_slow_window_is_a_breach_named_by_its_start() -> None:
    current = _requests(300, 10, seed=2)
    slow = (current["timestamp"] >= START + pd.Timedelta(minutes=2)) & (
        current["timestamp"] < START + pd.Timedelta(minutes=3)
    )
    current.loc[slow, "latency_ms"] *= 2.5
    result = assess_operational(current, _requests(600, 10, seed=1), window_seconds=60, thresholds=THRESHOLDS)
    assert result.status == "breach"
    statuses = [w["status"] for w in result.details["windows"]]
    assert statuses == ["ok", "ok", "breach", "ok", "ok"]
    assert result.details["windows"][2]["broken"] == {"p95_relative": "breach", "p99_ms": "breach"}
    assert result.summary.startswith(
        "1 of 5 window(s) breached p95_relative, p99_ms, first from 2026-03-01T12:02:00"
    )


def test_error_status_column_and_relative_error_rate() -> None:
    current = _requests(120, 10, seed=3).drop(columns="error")
    current["status"] = np.where(np.arange(len(current)) % 10 == 0, "timeout", "OK")
    result = assess_operational(
        current,
        {"error_rate": 0.02, "p95_ms": 90.0},
        window_seconds=60,
        thresholds={"error_rate": 0.2, "error_rate_relative": 3.0},
    )
    assert result.metrics["error_rate"] == pytest.approx(0.1)
    assert result.status == "breach"
    assert result.details["windows"][0]["broken"] == {"error_rate_relative": "breach"}


def test_throughput_drop_and_warning_band() -> None:
    baseline = {"throughput_per_s": 10.0, "p95_ms": 100.0}
    slow_traffic = _requests(180, 4, seed=4)
    result = assess_operational(
        slow_traffic, baseline, window_seconds=60, thresholds={"throughput_relative_min": 0.5}
    )
    assert result.status == "breach"
    assert [w["status"] for w in result.details["windows"]] == [
        "breach",
        "breach",
        "ok",
    ]  # last one not judged
    near = assess_operational(
        _requests(60, 10, seed=5), baseline, window_seconds=60, thresholds={"p95_ms": 100.0}
    )
    assert near.status == "warning"  # p95 about 96 ms: past 80% of the ceiling


def test_relative_thresholds_skip_a_zero_baseline() -> None:
    result = assess_operational(
        _requests(60, 10, seed=6),
        {"error_rate": 0.0},
        window_seconds=60,
        thresholds={"error_rate_relative": 2.0},
    )
    assert result.status == "ok"
    assert result.details["skipped_thresholds"] == ["error_rate_relative"]


def test_request_metrics_with_numeric_epoch_seconds() -> None:
    frame = pd.DataFrame(
        {"timestamp": [0, 1, 2, 3], "latency_ms": [10, 20, np.nan, 40], "error": [0, 0, 1, 0]}
    )
    metrics = request_metrics(frame, duration_seconds=4)
    assert metrics["p50_ms"] == 20
    assert metrics["error_rate"] == 0.25
    assert metrics["throughput_per_s"] == 1.0
    result = assess_operational(frame, frame, window_seconds=2, thresholds={"p50_relative": 2})
    assert result.metrics["windows"] == 2


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (lambda f: f.drop(columns="latency_ms"), {}, "no 'latency_ms' column"),
        (lambda f: f.drop(columns="error"), {}, "neither an 'error' nor a 'status'"),
        (lambda f: f.drop(columns="timestamp"), {}, "no 'timestamp' column"),
        (lambda f: f.assign(error=2), {}, "neither bool nor 0/1"),
        (lambda f: f.assign(timestamp="yesterday-ish"), {}, "does not hold timestamps"),
        (lambda f: f.iloc[:0], {}, "current requests are empty"),
        (lambda f: f, {"thresholds": {"p90_ms": 1}}, "'p90_ms'"),
        (lambda f: f, {"thresholds": {}}, "no operational threshold"),
        (lambda f: f, {"window_seconds": 0}, "not positive"),
    ],
)
def test_bad_inputs(change, kwargs: dict, message: str) -> None:
    frame = change(_requests(10, 2))
    arguments = {"window_seconds": 60, "thresholds": {"p95_ms": 100.0}, **kwargs}
    with pytest.raises(InvalidInput, match=message):
        assess_operational(frame, {"p95_ms": 50.0}, **arguments)


def test_unknown_baseline_metric() -> None:
    with pytest.raises(InvalidInput, match="'latency'"):
        assess_operational(
            _requests(10, 2), {"latency": 1.0}, window_seconds=60, thresholds={"p95_ms": 100.0}
        )
