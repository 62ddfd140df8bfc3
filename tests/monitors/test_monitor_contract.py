"""One contract for every monitor: a frozen MonitorResult with a status, numbers, thresholds, one
sentence and a JSON-serialisable dict, for a healthy case and a problem case."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from monitors.concept_drift import diagnose_drift
from monitors.operational import assess_operational
from monitors.performance import assess_performance
from monitors.quality import assess_quality
from monitors.result import STATUSES, MonitorResult, worst_status
from tests.monitors.models import breast_cancer
from tests.monitors.test_operational import _requests
from tests.monitors.test_quality import clean_frame


def _performance(problem: bool) -> MonitorResult:
    f = breast_cancer()
    y = f.y_test if not problem else 1 - f.y_test
    return assess_performance(y, f.model.predict(f.x_test), baseline={"accuracy": 0.97, "f1": 0.97})


def _diagnosis(problem: bool) -> MonitorResult:
    f = breast_cancer()
    y = f.y_test.copy()
    if problem:
        y[::4] = 1 - y[::4]
    return diagnose_drift(f.x_val, f.y_val, f.x_test, y, model_predict=f.model.predict)


def _operational(problem: bool) -> MonitorResult:
    current = _requests(120, 10, median_ms=150 if problem else 50, seed=3)
    return assess_operational(
        current, _requests(300, 10, seed=4), window_seconds=60, thresholds={"p95_relative": 1.5}
    )


def _quality(problem: bool) -> MonitorResult:
    frame = clean_frame()
    if problem:
        frame.loc[:3, "mean radius"] = np.nan
        frame = pd.concat([frame, frame.head(2).assign(split="test")], ignore_index=True)
    return assess_quality(
        frame, label="target", split_column="split", protected=["sex"], prediction="prediction"
    )


MONITORS: dict[str, Callable[[bool], MonitorResult]] = {
    "performance": _performance,
    "drift_diagnosis": _diagnosis,
    "operational": _operational,
    "quality": _quality,
}


@pytest.mark.parametrize("problem", [False, True], ids=["healthy", "problem"])
@pytest.mark.parametrize("name", sorted(MONITORS))
def test_monitor_contract(name: str, problem: bool) -> None:
    result = MONITORS[name](problem)
    assert isinstance(result, MonitorResult)
    assert result.monitor == name
    assert result.status in STATUSES
    assert (result.status != "ok") == problem, result.summary
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "ok"  # type: ignore[misc]
    for group in (result.metrics, result.thresholds):
        assert group
        for key, value in group.items():
            assert isinstance(key, str)
            assert isinstance(value, int | float) and not isinstance(value, bool), (key, value)
    assert result.summary.endswith(".") and "\n" not in result.summary
    assert result.summary[0].isupper() or result.summary[0].isdigit()
    data = result.to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["status"] == result.status
    assert {"monitor", "status", "summary", "metrics", "thresholds", "details"} <= set(data)
    for key, value in result.metrics.items():
        assert data["metrics"][key] == (None if math.isnan(value) else pytest.approx(value))


def test_worst_status() -> None:
    assert worst_status([]) == "ok"
    assert worst_status(["ok", "warning"]) == "warning"
    assert worst_status(["warning", "breach", "ok"]) == "breach"
    with pytest.raises(ValueError, match="'bad'"):
        worst_status(["bad"])
    with pytest.raises(ValueError, match="'fine'"):
        MonitorResult(monitor="x", status="fine", metrics={}, thresholds={}, summary="x.")  # type: ignore[arg-type]
