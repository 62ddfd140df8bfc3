"""One contract test over every monitor kind, through the runner, on a real deployed model."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from governance.cli import scenario
from governance.db import Database
from governance.migrate import upgrade
from governance.mlmodel import service as model_service
from governance.monitoring import service as monitoring
from governance.monitoring.models import MONITOR_KINDS, MonitorRun
from governance.monitoring.schedule import Window
from governance.settings import Settings
from monitors.checks import CHECKS
from monitors.runner import RunReport
from trainer.workflows import run_window

SMALL = scenario.Scenario(windows=3, drift_from=2, rows_per_window=120, epochs=8)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, Settings]:
    root = tmp_path_factory.mktemp("checks")
    settings = Settings(
        database_url=f"sqlite:///{root / 'govern.db'}", storage_root=root / "storage", actor="t"
    )
    db = Database(settings.database_url)
    upgrade(db.engine)
    pool = scenario.deploy(db, settings, root / "work", SMALL, lambda _: None)
    scenario.stream(db, settings, root / "work", SMALL, pool, lambda _: None)
    return db, settings


def _run_one_window(
    deployed: tuple[Database, Settings],
    *,
    name: str,
    kind: str,
    thresholds: dict,
    params: dict,
    hour: int = 0,
) -> RunReport | None:
    """A monitor ``name`` of ``kind`` on the deployed model, and its window ``hour`` hours after the first."""
    db, settings = deployed
    start = scenario.first_window(SMALL)
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "digits-classifier@1")
        monitor_id = monitoring.create(
            s,
            name=name,
            mv=mv,
            kind=kind,
            schedule="every 1h",
            window="1h",
            start_at=start,
            actor="t",
            thresholds=thresholds,
            params=params,
        ).id
    span = Window(start + timedelta(hours=hour), start + timedelta(hours=hour + 1))
    return run_window(
        db, monitor_id=monitor_id, window=span, worker="t", actor="t", storage_root=settings.storage_root
    )


PARAMS = {
    "robustness": ({"epsilon": 0.1, "min_accuracy": 0.3}, {"max_samples": 60, "epsilons": [0.1]}),
    "attribution_drift": ({}, {"max_rows": 60, "method": "ablation"}),
    "quality": ({}, {"min_examples": 5}),
    "data_drift": ({}, {"multivariate": True}),
    "model_drift": ({"p95_relative": 2.0, "error_rate": 0.05}, {}),
}


def test_every_kind_has_a_check() -> None:
    assert set(CHECKS) == set(MONITOR_KINDS)


@pytest.mark.parametrize("kind", MONITOR_KINDS)
@pytest.mark.parametrize("window", [0, 2], ids=["clean", "drifted"])
def test_every_monitor_kind_gives_the_shared_result(
    deployed: tuple[Database, Settings], kind: str, window: int
) -> None:
    db, _ = deployed
    thresholds, params = PARAMS.get(kind, ({}, {}))
    report = _run_one_window(
        deployed, name=f"{kind}-{window}", kind=kind, thresholds=thresholds, params=params, hour=window
    )
    assert report is not None
    assert report.status in ("ok", "warning", "breach"), report.summary
    assert report.summary.strip() and "\n" not in report.summary
    with db.transaction() as s:
        run = s.get(MonitorRun, report.run_id)
        assert run is not None and run.rows and run.duration_ms is not None
        json.dumps(
            {"metrics": run.metrics, "thresholds": run.thresholds, "details": run.details}, allow_nan=False
        )
        assert run.metrics and all(isinstance(v, (int, float)) or v is None for v in run.metrics.values())
    if kind in ("data_drift", "concept_drift") and window == 2:
        assert report.status == "breach"  # brighter, noisier scans: the inputs moved and accuracy fell
    if kind == "consistency":
        assert report.status == "ok"


def test_performance_estimation_stores_the_estimate_beside_the_realized_figures(
    deployed: tuple[Database, Settings],
) -> None:
    db, _ = deployed
    report = _run_one_window(
        deployed,
        name="estimate-clean",
        kind="performance_estimation",
        thresholds={"accuracy": 0.5},
        params={"metrics": ["accuracy", "f1"]},
    )
    assert report is not None and report.status == "ok", report.summary
    with db.transaction() as s:
        run = s.get(MonitorRun, report.run_id)
        assert run is not None
        m = run.metrics
        assert m["lower_accuracy"] <= m["estimated_accuracy"] <= m["upper_accuracy"]
        assert abs(m["estimated_accuracy"] - m["realized_accuracy"]) < 0.1, m
        assert run.thresholds == {"accuracy": 0.5}


@pytest.mark.parametrize(
    ("thresholds", "params", "expected"),
    [
        ({}, {"baseline_rows": "many"}, "baseline_rows 'many' is not a whole number"),
        ({}, {"baseline_rows": 2.5}, "baseline_rows 2.5 is not a whole number"),
        ({}, {"baseline_rows": -5}, "baseline rows -5 is not positive."),
        ({}, {"baseline_rows": "1e400"}, "baseline_rows '1e400' is not a whole number"),
        ({}, {"seed": [1]}, "seed [1] is not a whole number"),
        ({"warn_fpr": 1.5}, {}, "warning false-positive rate 1.5 is not in (0, 0.5)."),
        ({"warn_fpr": "nan"}, {}, "warn_fpr 'nan' is not a finite number"),
    ],
    ids=["text", "fraction", "negative", "huge", "list", "fpr-above-one", "fpr-nan"],
)
def test_hostile_params_fail_the_run_in_one_sentence(
    deployed: tuple[Database, Settings],
    thresholds: dict,
    params: dict,
    expected: str,
    request: pytest.FixtureRequest,
) -> None:
    report = _run_one_window(
        deployed,
        name=f"hostile-{request.node.callspec.id}",
        kind="concept_drift",
        thresholds=thresholds,
        params=params,
    )
    assert report is not None and report.status == "error"
    assert report.summary == expected
