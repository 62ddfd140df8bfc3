"""Model drift, operational: latency percentiles, throughput and error rate per window against a
baseline, with absolute and relative thresholds.

Requests are rows with ``latency_ms``, ``timestamp`` and either ``error`` (bool or 0/1) or
``status`` (anything but "ok" is an error).

>>> import pandas as pd
>>> requests = pd.DataFrame({
...     "timestamp": pd.date_range("2026-01-01", periods=100, freq="s"),
...     "latency_ms": [20.0] * 100,
...     "error": [False] * 100,
... })
>>> print(assess_operational(requests, {"p95_ms": 20.0}, window_seconds=60, thresholds={"p95_relative": 1.5}).status)
ok
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from governance.errors import InvalidInput
from monitors.result import MonitorResult, Status, worst_status

logger = logging.getLogger(__name__)

METRICS = ("p50_ms", "p95_ms", "p99_ms", "throughput_per_s", "error_rate")
# threshold name -> (metric, kind): "max" an absolute ceiling, "relative" a ceiling on
# current / baseline, "min" an absolute floor, "relative_min" a floor on current / baseline.
THRESHOLDS: dict[str, tuple[str, str]] = {
    "p50_ms": ("p50_ms", "max"),
    "p95_ms": ("p95_ms", "max"),
    "p99_ms": ("p99_ms", "max"),
    "p50_relative": ("p50_ms", "relative"),
    "p95_relative": ("p95_ms", "relative"),
    "p99_relative": ("p99_ms", "relative"),
    "error_rate": ("error_rate", "max"),
    "error_rate_relative": ("error_rate", "relative"),
    "min_throughput_per_s": ("throughput_per_s", "min"),
    "throughput_relative_min": ("throughput_per_s", "relative_min"),
}


def _timestamps(frame: pd.DataFrame, name: str) -> pd.Series:
    if "timestamp" not in frame.columns:
        raise InvalidInput(f"the {name} requests have no 'timestamp' column.")
    column = frame["timestamp"]
    try:
        if pd.api.types.is_numeric_dtype(column):
            times = pd.to_datetime(column, unit="s", utc=True)
        else:
            times = pd.to_datetime(column, utc=True, format="mixed")
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"the {name} requests' 'timestamp' column does not hold timestamps.") from exc
    if times.isna().any():
        raise InvalidInput(f"the {name} requests have {int(times.isna().sum())} missing timestamps.")
    return times


def _errors(frame: pd.DataFrame, name: str) -> np.ndarray:
    if "error" in frame.columns:
        column = frame["error"]
        if column.isna().any():
            raise InvalidInput(f"the {name} requests' 'error' column has missing values.")
        values = column.to_numpy()
        if values.dtype == bool:
            return values
        if pd.api.types.is_numeric_dtype(column) and set(np.unique(values).tolist()) <= {0, 1}:
            return values.astype(bool)
        raise InvalidInput(f"the {name} requests' 'error' column is neither bool nor 0/1.")
    if "status" in frame.columns:
        return (frame["status"].astype(str).str.strip().str.lower() != "ok").to_numpy()
    raise InvalidInput(f"the {name} requests have neither an 'error' nor a 'status' column.")


def request_metrics(
    frame: pd.DataFrame, *, duration_seconds: float, name: str = "current"
) -> dict[str, float]:
    """Latency percentiles (ms), throughput (requests per second over ``duration_seconds``) and
    error rate of a frame of requests (missing latencies are left out of the percentiles)."""
    if "latency_ms" not in frame.columns:
        raise InvalidInput(f"the {name} requests have no 'latency_ms' column.")
    if not pd.api.types.is_numeric_dtype(frame["latency_ms"]):
        raise InvalidInput(f"the {name} requests' 'latency_ms' column is not numeric.")
    if duration_seconds <= 0:
        raise InvalidInput(f"the {name} window's duration {duration_seconds} is not positive.")
    latency = frame["latency_ms"].to_numpy(dtype=np.float64)
    latency = latency[np.isfinite(latency)]
    errors = _errors(frame, name)
    if len(latency):
        p50, p95, p99 = (float(v) for v in np.percentile(latency, [50, 95, 99]))
    else:
        p50 = p95 = p99 = float("nan")
    return {
        "p50_ms": p50,
        "p95_ms": p95,
        "p99_ms": p99,
        "throughput_per_s": len(frame) / duration_seconds,
        "error_rate": float(errors.mean()) if len(errors) else float("nan"),
        "n": float(len(frame)),
    }


def _baseline_metrics(
    baseline: pd.DataFrame | Mapping[str, float], window_seconds: float
) -> dict[str, float]:
    if isinstance(baseline, pd.DataFrame):
        if baseline.empty:
            raise InvalidInput("the baseline requests are empty.")
        times = _timestamps(baseline, "baseline")
        span = (times.max() - times.min()).total_seconds()
        # The span between first and last request under-counts by one gap; a single instant
        # falls back to the window length.
        duration = (
            span * len(baseline) / (len(baseline) - 1) if span > 0 and len(baseline) > 1 else window_seconds
        )
        return request_metrics(baseline, duration_seconds=duration, name="baseline")
    unknown = [k for k in baseline if k not in (*METRICS, "n")]
    if unknown:
        raise InvalidInput(f"baseline metric {unknown[0]!r} is not one of {', '.join(METRICS)}.")
    return {k: float(v) for k, v in baseline.items()}


def _judge(value: float, limit: float, kind: str, warn_ratio: float) -> Status:
    if math.isnan(value):
        return Status.OK
    if kind in ("max", "relative"):
        return Status.BREACH if value > limit else Status.WARNING if value > limit * warn_ratio else Status.OK
    return Status.BREACH if value < limit else Status.WARNING if value < limit / warn_ratio else Status.OK


def _windows(
    frame: pd.DataFrame, times: pd.Series, window_seconds: float
) -> list[tuple[pd.Timestamp, pd.DataFrame]]:
    start = times.min()
    slot = ((times - start).dt.total_seconds() // window_seconds).astype(int).to_numpy()
    return [
        (start + pd.Timedelta(seconds=float(k) * window_seconds), frame[slot == k])
        for k in np.unique(slot).tolist()
    ]


def assess_operational(
    current: pd.DataFrame,
    baseline: pd.DataFrame | Mapping[str, float],
    *,
    window_seconds: float,
    thresholds: Mapping[str, float],
    warn_ratio: float = 0.8,
) -> MonitorResult:
    """Judge the current requests, window by window, against a baseline.

    Parameters
    ----------
    current : pandas.DataFrame
        Requests with ``timestamp``, ``latency_ms`` and ``error`` (or ``status``); cut into
        consecutive windows of ``window_seconds`` from the first request.
    baseline : pandas.DataFrame or mapping
        Baseline requests (their metrics are computed, throughput over their time span) or
        baseline metrics (``p50_ms``, ``p95_ms``, ``p99_ms``, ``throughput_per_s``, ``error_rate``).
    window_seconds : float
        Window length; throughput is requests per second of it.
    thresholds : mapping
        Breach levels: ``p50_ms``/``p95_ms``/``p99_ms`` and ``error_rate`` ceilings,
        ``p50_relative``/``p95_relative``/``p99_relative`` and ``error_rate_relative`` ceilings on
        current / baseline, ``min_throughput_per_s`` and ``throughput_relative_min`` floors.
        A relative threshold is skipped when the baseline value is 0 or missing.
    warn_ratio : float
        A warning when a value passes ``warn_ratio`` of a ceiling (or a floor divided by it).

    Returns
    -------
    MonitorResult
        ``metrics``: the whole current period's metrics and ``windows``; ``thresholds``: those
        given plus ``baseline_<metric>``; ``details["windows"]``: each window's start, metrics,
        status and the thresholds it broke. Throughput is not judged on the last window when there
        are several (it is usually partial). The status is the worst window's.
    """
    if window_seconds <= 0:
        raise InvalidInput(f"window length {window_seconds} seconds is not positive.")
    if not thresholds:
        raise InvalidInput("no operational threshold was given.")
    unknown = [k for k in thresholds if k not in THRESHOLDS]
    if unknown:
        raise InvalidInput(f"operational threshold {unknown[0]!r} is not one of {', '.join(THRESHOLDS)}.")
    if not 0 < warn_ratio <= 1:
        raise InvalidInput(f"warn ratio {warn_ratio} is not in (0, 1].")
    if current.empty:
        raise InvalidInput("the current requests are empty.")
    base = _baseline_metrics(baseline, window_seconds)
    times = _timestamps(current, "current")
    windows = _windows(current, times, window_seconds)
    rows: list[dict[str, Any]] = []
    skipped: set[str] = set()
    for i, (start, part) in enumerate(windows):
        values = request_metrics(part, duration_seconds=window_seconds)
        broken: dict[str, Status] = {}
        for name, limit in thresholds.items():
            metric, kind = THRESHOLDS[name]
            if metric == "throughput_per_s" and len(windows) > 1 and i == len(windows) - 1:
                continue
            value = values[metric]
            if kind.startswith("relative"):
                reference = base.get(metric, float("nan"))
                if not reference or math.isnan(reference):
                    skipped.add(name)
                    continue
                value = value / reference
            status = _judge(value, float(limit), kind, warn_ratio)
            if status != Status.OK:
                broken[name] = status
        rows.append(
            {
                "start": start.isoformat(),
                "metrics": values,
                "status": worst_status(broken.values()),
                "broken": broken,
            }
        )
    status = worst_status(r["status"] for r in rows)
    overall = request_metrics(current, duration_seconds=window_seconds * len(windows))
    overall["windows"] = float(len(windows))
    used = {k: float(v) for k, v in thresholds.items()}
    used.update({f"baseline_{k}": v for k, v in base.items() if k in METRICS})
    summary = _summary(status, rows, overall, base)
    return MonitorResult(
        monitor="operational",
        status=status,
        metrics=overall,
        thresholds=used,
        summary=summary,
        details={"windows": rows, "window_seconds": window_seconds, "skipped_thresholds": sorted(skipped)},
    )


def _summary(
    status: Status, rows: list[dict[str, Any]], overall: dict[str, float], base: dict[str, float]
) -> str:
    n = len(rows)
    if status == Status.OK:
        return (
            f"Serving is within its thresholds over {n} window(s): p95 {overall['p95_ms']:.0f} ms, "
            f"error rate {overall['error_rate']:.1%}."
        )
    bad = [r for r in rows if r["status"] == status]
    names = sorted({name for r in bad for name, s in r["broken"].items() if s == status})
    first = bad[0]
    word = "breached" if status == Status.BREACH else "nears"
    return (
        f"{len(bad)} of {n} window(s) {word} {', '.join(names)}, first from {first['start']} "
        f"(p95 {first['metrics']['p95_ms']:.0f} ms, error rate {first['metrics']['error_rate']:.1%})."
    )
