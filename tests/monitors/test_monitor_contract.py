"""One contract for every monitor: a frozen MonitorResult with a status, numbers, thresholds, one
sentence and a JSON-serialisable dict, for a healthy case and a problem case.

The results the window checks build on (drift, consistency, attributions, robustness) keep the same
contract; their summary is the clause a window check puts after its opening ("data drift on
NAME@1: ..."), so it is not a sentence of its own."""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest

from monitors.concept_drift import diagnose_drift
from monitors.consistency import check_consistency
from monitors.drift import detect_drift
from monitors.insight import GlobalAttribution, attribution_drift
from monitors.operational import assess_operational
from monitors.performance import assess_performance
from monitors.quality import assess_quality
from monitors.result import STATUSES, MonitorResult, Status, worst_status
from monitors.robustness import GradientCheck, RobustnessResult, evaluate_robustness_breach
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


def _data_drift(problem: bool) -> MonitorResult:
    rng = np.random.default_rng(2)  # seeded: a healthy window's columns are all far from significant
    reference = pd.DataFrame({"a": rng.normal(size=800), "b": rng.choice(["x", "y", "z"], 800)})
    current = pd.DataFrame(
        {"a": rng.normal(0.8 if problem else 0.0, 1, 800), "b": rng.choice(["x", "y", "z"], 800)}
    )
    return detect_drift(reference, current)


def _consistency(problem: bool) -> MonitorResult:
    def predict(x: np.ndarray) -> np.ndarray:  # a batch-size-dependent output is the problem
        return x.sum(1, keepdims=True) + (len(x) * 1e-2 if problem else 0.0)

    return check_consistency(predict, np.random.default_rng(0).normal(size=(80, 4)))


def _attribution_drift(problem: bool) -> MonitorResult:
    names = ("a", "b", "c", "d")
    reference = GlobalAttribution(names, np.array([0.5, 0.3, 0.15, 0.05]), 100)
    current = GlobalAttribution(names, np.array([0.05, 0.15, 0.3, 0.5]) if problem else reference.values, 100)
    return attribution_drift(reference, current, top_k=3)


def _robustness(problem: bool) -> MonitorResult:
    result = RobustnessResult(
        clean_accuracy=0.9, epsilons=(0.0, 0.1), attacks={}, worst_case=(0.9, 0.4 if problem else 0.7),
        success_rates={}, warnings=(), n_samples=10, space="image", bounds=(0.0, 1.0), l2_scale=8.0,
        minimal_perturbation={}, large_epsilon=1.0, large_epsilon_accuracy=0.0,
        gradient=GradientCheck(10, 0.0, 0.0, 1.0), device="cpu", seed=0, seconds=0.1,
    )  # fmt: skip
    return evaluate_robustness_breach(result, epsilon=0.1, min_accuracy=0.5)


MONITORS: dict[str, Callable[[bool], MonitorResult]] = {
    "performance": _performance,
    "drift_diagnosis": _diagnosis,
    "operational": _operational,
    "quality": _quality,
}
CLAUSES: dict[str, Callable[[bool], MonitorResult]] = {
    "data_drift": _data_drift,
    "consistency": _consistency,
    "attribution_drift": _attribution_drift,
    "robustness": _robustness,
}


@pytest.mark.parametrize("problem", [False, True], ids=["healthy", "problem"])
@pytest.mark.parametrize("name", sorted(MONITORS) + sorted(CLAUSES))
def test_monitor_contract(name: str, problem: bool) -> None:
    sentence = name in MONITORS
    result = (MONITORS if sentence else CLAUSES)[name](problem)
    assert isinstance(result, MonitorResult) and isinstance(result.status, Status)
    assert result.monitor == name
    assert result.status in STATUSES
    assert (result.status != "ok") == problem, result.summary
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = "ok"  # type: ignore[misc]
    settings: tuple[type, ...] = () if sentence else (str,)  # a clause's thresholds may name a setting
    for group, allowed in ((result.metrics, (int, float)), (result.thresholds, (int, float, *settings))):
        assert group
        for key, value in group.items():
            assert isinstance(key, str)
            assert isinstance(value, allowed) and not isinstance(value, bool), (key, value)
    assert result.summary and "\n" not in result.summary
    if sentence:
        assert result.summary.endswith(".")
        assert result.summary[0].isupper() or result.summary[0].isdigit()
    data = MonitorResult.to_dict(result)  # the shared form (a subclass's own to_dict keeps its shape)
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
