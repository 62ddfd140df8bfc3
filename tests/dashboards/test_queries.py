"""The pages' queries on SQLite and PostgreSQL: the inventory's filters, sorting and paging in SQL,
alert and audit filters, the approval counts; unknown filter values are one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from dashboards import inventory, queries, queues
from governance.approval.service import ApprovalPolicy
from governance.db import Database
from governance.errors import InvalidInput
from governance.mlmodel import service as model_service
from tests.api import world as world_module


@pytest.fixture
def world_db(db: Database, breast_cancer_csv: Path, torchscript_models: list[Path]) -> Database:
    world_module.build(db, breast_cancer_csv, torchscript_models)
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, "tumour@3")
        model_service.set_stage(session, mv=mv, stage="production", actor="admin", reason="meets policy")
        for i in range(12):  # more models than a page holds
            model_service.register(
                session,
                storage=None,
                artifact=model_service.inspect_artifact(torchscript_models[i % 3]),
                name=f"m{i:02d}_x",
                version="1",
                intended_use="internal",
                actor="admin" if i % 2 else "editor",
                risk_tier="low",
                datasets=[("cancer@1", "train")],
                task="classification",
                metrics={},
            )
    return db


def _names(db: Database, **params: str) -> tuple[list[str], int]:
    with db.transaction() as session:
        found = inventory.listing(session, ApprovalPolicy(), inventory.parse_filters(**params))
    return [m["name"] for m in found["models"]], found["total"]


def test_inventory_filters_sort_and_page_in_sql(world_db: Database) -> None:
    names, total = _names(world_db, per_page="10")
    assert total == 13 and names == [f"m{i:02d}_x" for i in range(10)]
    assert _names(world_db, per_page="10", page="2") == (["m10_x", "m11_x", "tumour"], 13)
    assert _names(world_db, per_page="10", sort="name", desc="1")[0][:2] == ["tumour", "m11_x"]
    assert _names(world_db, q="M0")[1] == 10  # case-insensitive
    assert _names(world_db, q="_x")[1] == 12 and _names(world_db, q="%")[1] == 0  # wildcards are text
    assert _names(world_db, owner="admin")[1] == 6
    assert _names(world_db, stage="production") == (["tumour"], 1)
    assert _names(world_db, risk="high") == (["tumour"], 1)
    assert _names(world_db, monitor="breach") == (["tumour"], 1)
    assert _names(world_db, monitor="warning") == (["tumour"], 1)
    assert _names(world_db, monitor="ok") == ([], 0)
    assert _names(world_db, monitor="no_run") == ([], 0)
    assert _names(world_db, monitor="not_monitored", per_page="100")[1] == 13
    assert _names(world_db, compliance="violations") == ([], 0)
    assert _names(world_db, compliance="ok", per_page="10", page="2")[1] == 13
    assert _names(world_db, sort="risk", desc="1")[0][0] == "tumour"
    with world_db.transaction() as session:
        found = inventory.listing(session, ApprovalPolicy(), inventory.parse_filters(q="tumour"))
    tumour = found["models"][0]
    assert tumour["head"]["ref"] == "tumour@3"  # production first
    assert [r["ref"] for r in tumour["others"]] == ["tumour@2", "tumour@1"]
    cells = tumour["others"][1]["cells"]
    assert (cells["drift"]["label"], cells["robustness"]["label"], cells["quality"]["label"]) == (
        "breach",
        "warning",
        "not monitored",
    )
    assert tumour["others"][1]["open_alerts"] == 1


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"per_page": "7"}, {"risk": "extreme"}, {"sort": "name; drop table x"}, {"q": "x" * 201}],
)
def test_an_unknown_inventory_filter_is_one_sentence(params: dict[str, str]) -> None:
    with pytest.raises(InvalidInput):
        inventory.parse_filters(**params)


def test_alert_and_audit_filters(world_db: Database) -> None:
    with world_db.transaction() as session:

        def alerts(**p: str) -> int:
            return int(queues.alerts(session, queues.alert_filters(p))["total"])

        assert alerts() == 1 and alerts(model="tumour") == 1 and alerts(model="tumour@1") == 1
        assert alerts(model="tumour@2") == 0 and alerts(monitor="tumour-robust") == 0
        assert alerts(severity="high", status="open") == 1 and alerts(status="resolved") == 0
        for bad in ({"status": "opne"}, {"severity": "huge"}, {"offset": "-1"}, {"model": "x\x00"}):
            with pytest.raises(InvalidInput):
                queues.alert_filters(bad)
        found = queues.audit(session, queues.audit_filters({"entity": "tumour@3", "action": "model.stage"}))
        assert found["total"] == 1
        row = found["rows"][0]
        assert ("stage", "candidate → production") in row["details"]
        assert ("reason", "meets policy") in row["details"]
        assert row["link"] == "/models/tumour/3"
        assert queues.approval_counts(session) == {
            "pending": 0,
            "awaiting_promotion": 0,
            "approved": 0,
            "rejected": 0,
        }


def test_a_calibrated_verdict_shows_its_false_alarm_rates(world_db: Database) -> None:
    """The model page says at which false-positive rates a calibrated drift verdict was reached."""
    from governance.monitoring.models import Monitor
    from monitors.runner import CheckOutcome
    from tests.api.world import DRIFT, _run

    with world_db.transaction() as session:
        monitor_id = session.scalars(select(Monitor.id).where(Monitor.kind == "data_drift")).one()
    calibrated = {"column_fpr": 0.05, "family_fpr": 0.01, "correction": "holm"}
    _run(world_db, monitor_id, len(DRIFT), CheckOutcome("ok", {"drift_share": 0.0}, calibrated, "no drift"))
    with world_db.transaction() as session:
        mv = model_service.get_by_ref(session, "tumour@1")
        runs = queries.model_page(session, mv, ApprovalPolicy())["runs"]
    shown = {r["fpr"] for r in runs if r["kind"] == "data_drift"}
    assert "false-alarm rate 5% per column, 1% per window (holm)" in shown
    assert None in shown  # the Evidently-style runs before it carry no rate
    assert queries.false_alarm_rate({"share_drifted": 0.5}) is None


def test_the_estimate_and_the_realized_figure_share_a_chart(world_db: Database) -> None:
    """CBPE estimates per window, and once labels arrive the concept-drift monitor's realized
    accuracy of the same window beside them (how good the estimate was)."""
    from governance.monitoring import service as monitoring_service
    from monitors.runner import CheckOutcome
    from tests.api.world import START, _run

    with world_db.transaction() as session:
        mv = model_service.get_by_ref(session, "tumour@1")
        ids = {
            kind: monitoring_service.create(
                session, name=f"tumour-{kind}", mv=mv, kind=kind, schedule="every 1h", window="1h",
                actor="editor", start_at=START,
            ).id
            for kind in ("performance_estimation", "concept_drift")
        }  # fmt: skip
    for i, (estimate, realized) in enumerate([(0.93, 0.95), (0.91, None), (0.62, 0.60)]):
        metrics = {
            "estimated_accuracy": estimate,
            "lower_accuracy": estimate - 0.03,
            "upper_accuracy": estimate + 0.03,
        }
        outcome = CheckOutcome("ok" if estimate > 0.8 else "breach", metrics, {"accuracy": 0.8}, "estimated")
        _run(world_db, ids["performance_estimation"], i, outcome)
        if realized is not None:  # the labels of the second window never came
            _run(
                world_db, ids["concept_drift"], i, CheckOutcome("ok", {"accuracy": realized}, {}, "realized")
            )
    with world_db.transaction() as session:
        mv = model_service.get_by_ref(session, "tumour@1")
        charts = queries.model_page(session, mv, ApprovalPolicy())["charts"]
    (chart,) = [c for c in charts if c["monitor_kind"] == "performance_estimation"]
    assert chart["metric"] == "accuracy" and chart["values"] == [0.93, 0.91, 0.62]
    assert chart["realized"] == [0.95, None, 0.60] and chart["threshold"] == 0.8
    assert chart["statuses"] == ["ok", "ok", "breach"]


def test_every_kind_shows_its_false_alarm_rate_or_threshold_beside_its_verdict() -> None:
    """Each kind's stored thresholds, as its check writes them, read as one line on the model page."""
    import numpy as np
    import pandas as pd

    from monitors.operational import assess_operational
    from monitors.performance import assess_performance
    from monitors.quality import assess_quality

    y = np.array([0, 1] * 50)
    concept = assess_performance(y, y, baseline={"accuracy": 0.97}, baseline_rows=86).to_dict()["thresholds"]
    assert queries.false_alarm_rate(concept, "concept_drift") == (
        "warning at 5% false alarms (window's error and the baseline's); "
        "breach: accuracy drop > 0.05 outside the 95% interval"
    )
    requests = pd.DataFrame(
        {"timestamp": pd.date_range("2026-01-01", periods=50, freq="s"), "latency_ms": 20.0, "error": False}
    )
    operational = assess_operational(
        requests, requests, window_seconds=60, thresholds={"p95_relative": 1.5, "error_rate": 0.05}
    ).to_dict()["thresholds"]
    assert queries.false_alarm_rate(operational, "model_drift") == (
        "breach past p95_relative 1.5, error_rate 0.05; warning at 80% of each"
    )
    quality = assess_quality(pd.DataFrame({"x": [1.0, 2.0]})).to_dict()["thresholds"]
    assert queries.false_alarm_rate(quality, "quality") == (
        "breach past 20% missing, 5% duplicates or dataset drift at 1% per window"
    )
    assert queries.false_alarm_rate({"epsilon": 0.1, "min_accuracy": 0.5}, "robustness") == (
        "breach below worst-case accuracy 0.5 at ε 0.1"
    )
    assert queries.false_alarm_rate({"tolerance": 1e-4, "rtol": 1e-4}, "consistency") == (
        "breach beyond 0.0001 + 0.0001·|output|"
    )
    assert (
        queries.false_alarm_rate({"ndcg": 0.9, "top_k": 10}, "attribution_drift")
        == "breach below NDCG@10 0.9"
    )
    assert (
        queries.false_alarm_rate({"max_drop_accuracy": 0.05}, "concept_drift") is None
    )  # runs before warn_fpr
    assert queries.false_alarm_rate({"ndcg": "x"}, "attribution_drift") is None


def test_the_attribution_heatmap_takes_huge_and_broken_attributions() -> None:
    from datetime import UTC, datetime

    from governance.monitoring.models import Monitor, MonitorRun

    def run(hour: int, current: dict[str, object]) -> MonitorRun:
        reference = {"a": 1.5e308, "b": 1.5e308, "c": 0.0}  # their sum overflows a float
        details = {"current": {"attributions": current}, "reference": {"attributions": reference}}
        return MonitorRun(
            status="ok",
            metrics={"ndcg": 1.0},
            details=details,
            window_end=datetime(2026, 11, 1, hour, tzinfo=UTC),
        )

    runs = [run(1, {"a": -1e308, "b": 1e308, "c": float("nan")}), run(2, {"a": "x", "b": None, "c": 2.0})]
    found = queries._attribution_heatmap(Monitor(name="m"), runs)
    assert found is not None
    rows = {r["feature"]: r for r in found["rows"]}
    assert [rows[n]["reference"] for n in "abc"] == [50.0, 50.0, 0.0]
    assert [c["share"] for c in rows["a"]["cells"]] == [50.0, 0.0]
    assert [c["share"] for c in rows["c"]["cells"]] == [0.0, 100.0]
