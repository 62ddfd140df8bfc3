"""One result shape, one status type, one list of kinds (issue 17).

Every result type is a frozen MonitorResult; statuses are one ``str`` enum whose stored and JSON
values are the plain words; the drift result keeps every field through ``to_dict``; the check
table, the CLI's ``--kind`` choices and the API's kind type come from the one list of kinds.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from governance.monitoring.models import MONITOR_KINDS
from governance.monitoring.terms import LABEL_KINDS, RUN_STATUSES, CheckOutcome, Status, worst_status
from monitors.drift import DriftResult, build_profile, compare_profiles, detect_drift
from monitors.result import MonitorResult

ROOT = Path(__file__).resolve().parents[2]


def _frames(seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 600
    reference = pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(["a", "b", "c"], n),
            "note": [f"free text {i} {rng.integers(1_000_000)}" for i in range(n)],
        }
    )
    current = pd.DataFrame(
        {
            "age": rng.normal(47, 10, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(["a", "b", "c"], n, p=[0.6, 0.2, 0.2]),
            "note": [f"other text {i} {rng.integers(1_000_000)}" for i in range(n)],
        }
    )
    reference.loc[:9, "age"] = np.nan
    current.loc[:24, "income"] = np.nan
    return reference, current


@pytest.mark.parametrize("preset", ["calibrated", "evidently"])
def test_the_drift_result_keeps_every_field_through_json(preset: str) -> None:
    reference, current = _frames()
    result = detect_drift(reference, current, preset=preset)
    assert result.skipped == ("note",)  # text is not tested, and says so
    by_name = {c.column: c for c in result.columns}
    assert by_name["age"].reference_missing == 10 and by_name["income"].current_missing == 25
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert data["skipped"] == ["note"]
    assert {"reference_missing", "current_missing", "approximate", "score_error"} <= set(data["columns"][0])
    again = DriftResult.from_dict(data)
    assert again == result
    assert (again.status, again.summary, again.metrics) == (result.status, result.summary, result.metrics)


def test_an_approximate_column_keeps_its_error_bound() -> None:
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=3000)})
    current = pd.DataFrame({"x": rng.normal(0.2, 1, size=3000)})
    result = compare_profiles(
        build_profile(reference, max_bins=64),
        build_profile(current, max_bins=64),
        preset="evidently",
        methods={"x": "psi"},
    )
    (column,) = result.columns
    assert column.approximate
    data = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    restored = DriftResult.from_dict(data).columns[0]
    assert restored.approximate
    if math.isnan(column.score_error):  # no bound computed: None in JSON, NaN again when read
        assert data["columns"][0]["score_error"] is None and math.isnan(restored.score_error)
    else:
        assert restored.score_error == column.score_error > 0


def test_the_compact_form_is_the_documented_shape() -> None:
    reference, current = _frames()
    compact = detect_drift(reference, current, preset="evidently").to_compact_dict()
    assert set(compact) == {"columns", "drifted_count", "drift_share", "dataset_drift"}
    assert set(compact["columns"][0]) == {"column", "type", "method", "score", "threshold", "drift_detected"}


def test_every_result_type_is_a_frozen_monitor_result() -> None:
    from monitors.consistency import ConsistencyResult
    from monitors.insight import AttributionDrift
    from monitors.robustness import RobustnessBreach

    for cls in (DriftResult, ConsistencyResult, AttributionDrift, RobustnessBreach):
        assert issubclass(cls, MonitorResult) and issubclass(cls, CheckOutcome)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    result = detect_drift(*_frames())
    assert isinstance(result.status, Status)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.status = Status.OK  # type: ignore[misc]


def test_the_status_is_one_str_enum_with_the_plain_words() -> None:
    assert [s.value for s in Status] == list(RUN_STATUSES) == ["running", "ok", "warning", "breach", "error"]
    assert json.dumps({"status": Status.BREACH}) == '{"status": "breach"}'
    assert f"{Status.WARNING}" == "warning" and Status("ok") is Status.OK
    assert worst_status([Status.OK, "warning"]) is Status.WARNING
    outcome = CheckOutcome("breach", {}, {}, "x")  # a plain word becomes the enum
    assert outcome.status is Status.BREACH
    with pytest.raises(ValueError, match="'error'"):
        MonitorResult(monitor="x", status="error", metrics={}, thresholds={}, summary="x")


def test_the_check_table_is_the_list_of_kinds_with_no_import_needed() -> None:
    from monitors.checks import CHECKS, Check

    assert tuple(CHECKS) == MONITOR_KINDS
    assert all(isinstance(check, Check) and check.kind == kind for kind, check in CHECKS.items())
    assert {k for k, c in CHECKS.items() if isinstance(c, Check) and c.needs_labels} == set(LABEL_KINDS)
    # A fresh process that imports only the runner has every check (nothing installs them by import).
    code = (
        "from monitors.runner import CHECKS; from governance.monitoring.terms import MONITOR_KINDS; "
        "assert tuple(CHECKS) == MONITOR_KINDS, CHECKS"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=env, timeout=120)


def test_the_cli_and_the_api_take_the_one_list_of_kinds() -> None:
    from dashboards.api.routes.monitors import MonitorCreate
    from governance.cli.closed_loop import monitor_add

    kind_option = next(p for p in monitor_add.params if p.name == "kind")
    assert tuple(kind_option.type.choices) == MONITOR_KINDS  # type: ignore[attr-defined]
    schema = MonitorCreate.model_json_schema()
    assert tuple(schema["properties"]["kind"]["enum"]) == MONITOR_KINDS
