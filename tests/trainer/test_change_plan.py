"""Retrains learn from the right data, under the model's change plan (issue 12): training data
accumulates across episodes within the declared window and reference rule; a retrained version's
drift reference is its own training set; a retrain outside the plan needs approval; the plan is
in the audit report; MLflow's versions carry the platform's version and its aliases follow every
promotion. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient
from sqlalchemy import select

from governance.audit.models import AuditEvent
from governance.changeplan import service as changeplan_service
from governance.changeplan.models import ChangePlan
from governance.cli import scenario
from governance.dataset import service as dataset_service
from governance.db import Database, utcnow
from governance.mlmodel import service as model_service
from governance.monitoring import jobs
from governance.monitoring.models import Monitor, RetrainJob
from governance.production import service as production
from governance.report import render
from governance.report import service as report_service
from governance.settings import Settings
from governance.storage import LocalStorage
from trainer import training_data
from trainer.tracking import GOVERN_VERSION_TAG, local_tracking_uri
from trainer.worker import WorkerConfig, work

SMALL = scenario.Scenario(windows=3, drift_from=2, rows_per_window=80, epochs=3)
MODEL = "digits-classifier"


def _setup(db: Database, tmp_path: Path) -> tuple[Settings, pd.DataFrame]:
    settings = Settings(database_url=str(db.engine.url), storage_root=tmp_path / "storage", actor="tester")
    pool = scenario.deploy(db, settings, tmp_path / "work", SMALL, lambda _: None)
    scenario.stream(db, settings, tmp_path / "work", SMALL, pool, lambda _: None)
    return settings, pool


def _json(result: Any) -> Any:
    return json.loads(result.stdout)


def _key(govern: Any, user: str, role: str) -> str:
    govern("user", "add", user, "--role", role)
    return str(_json(govern("key", "create", user, "--json"))["key"])


def _ingest(db: Database, settings: Settings, tmp_path: Path, pool: pd.DataFrame, ref: str, n: int) -> None:
    """``n`` labelled records for ``ref`` in the last 20 minutes (a second episode)."""
    rows = pool.sample(n=n, random_state=7).reset_index(drop=True)
    now = utcnow()
    batch = rows[scenario.FEATURES].copy()
    batch.insert(0, "timestamp", [now - timedelta(minutes=20) + timedelta(seconds=10 * i) for i in range(n)])
    batch.insert(0, "request_id", [f"episode2-{i}" for i in range(n)])
    batch["prediction"] = rows[scenario.LABEL]
    batch.to_parquet(tmp_path / "e2.parquet", index=False)
    pd.DataFrame({"request_id": batch["request_id"], "label": rows[scenario.LABEL]}).to_csv(
        tmp_path / "e2-labels.csv", index=False
    )
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, ref)
        storage = LocalStorage(settings.storage_root)
        for path, kind in ((tmp_path / "e2.parquet", "predictions"), (tmp_path / "e2-labels.csv", "labels")):
            production.ingest(s, storage=storage, mv=mv, path=path, kind=kind, actor="tester")


def _client(settings: Settings) -> MlflowClient:
    uri = local_tracking_uri(settings.storage_root / "mlruns")
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _mlflow_alias(settings: Settings, alias: str) -> str:
    """The platform version that MLflow's ``alias`` points at (by the version's govern.version tag)."""
    client = _client(settings)
    version = client.get_model_version_by_alias(MODEL, alias)
    return str(version.tags[GOVERN_VERSION_TAG])


def test_two_episodes_accumulate_and_a_new_version_is_its_own_reference(
    db: Database, govern: Any, tmp_path: Path
) -> None:
    settings, pool = _setup(db, tmp_path)
    config = WorkerConfig(storage_root=settings.storage_root, actor="worker", name="w", epochs=3)
    govern("retrain", "request", f"{MODEL}@1", "--reason", "episode 1")
    (first,) = work(db, config=config, once=True)
    assert first["status"] == "succeeded" and first["stage"] == "production", first
    assert first["change_plan"] == {"version": 1, "within": True, "deviations": []}
    data = first["training_data"]
    assert data["reference"] == "digits@1" and data["reference_rows"] == 1257
    assert data["production_records"] == 3 * 80 and data["excluded_before_window"] == 0

    with db.transaction() as s:
        v2 = model_service.get_by_ref(s, f"{MODEL}@2")
        # the next drift is measured against what @2 learned: its own training set is its reference
        assert {(link.dataset_version.ref, link.role) for link in v2.datasets} == {
            ("digits@2", "train"),
            ("digits@2", "reference"),
        }
        assert v2.hyperparameters["base_reference"] == "digits@1"
        assert [p.ref for p in dataset_service.get_by_ref(s, "digits@2").parents] == ["digits@1"]
        assert production.feature_schema(v2) == production.feature_schema(
            model_service.get_by_ref(s, f"{MODEL}@1")
        )
    assert _mlflow_alias(settings, "champion") == "2"  # the worker's promotion, mirrored

    # Episode 2, served by @2: the retrain learns from both episodes' records, once each.
    _ingest(db, settings, tmp_path, pool, f"{MODEL}@2", 60)
    with db.transaction() as s:
        v2 = model_service.get_by_ref(s, f"{MODEL}@2")
        jobs.create(
            s,
            model_version_id=v2.id,
            monitor=None,
            window_start=utcnow(),
            reason="episode 2",
            params={},
            actor="tester",
        )
    (second,) = work(db, config=config, once=True)
    assert second["status"] == "succeeded" and second["candidate"] == f"{MODEL}@3", second
    data = second["training_data"]
    assert data["reference"] == "digits@1" and data["production_records"] == 3 * 80 + 60
    with db.transaction() as s:
        training = dataset_service.get_by_ref(s, second["training_set"])
        assert training.rows == 1257 + 3 * 80 + 60  # nothing labelled dropped, nothing counted twice
        assert [p.ref for p in training.parents] == ["digits@1"]
        v3 = model_service.get_by_ref(s, f"{MODEL}@3")
        assert {link.role for link in v3.datasets if link.dataset_version.ref == training.ref} == {
            "train",
            "reference",
        }
    assert _mlflow_alias(settings, "champion") == ("3" if second["stage"] == "production" else "2")

    # A person moves production to the other version: MLflow's champion follows (no retrain involved).
    target = "2" if second["stage"] == "production" else "3"
    editor = _key(govern, "ed", "editor")
    govern(
        "promote",
        f"{MODEL}@{target}",
        "--stage",
        "production",
        "--reason",
        "by hand",
        env_extra={"GOVERN_API_KEY": editor},
    )
    assert _mlflow_alias(settings, "champion") == target
    client = _client(settings)
    tags = sorted(v.tags[GOVERN_VERSION_TAG] for v in client.search_model_versions(f"name='{MODEL}'"))
    assert tags == ["2", "3"]


def test_the_window_and_reference_rules_select_the_training_data(
    db: Database, govern: Any, tmp_path: Path
) -> None:
    settings, _ = _setup(db, tmp_path)
    with db.transaction() as s:
        plans_before = len(s.scalars(select(ChangePlan)).all())
    # bad definitions: one sentence, exit 2, nothing written
    for args, says in (
        (["--retrain", "--retrain-window", "0"], "must be longer than zero"),
        (["--retrain", "--retrain-window", "-1h"], "is not a duration"),
        (["--retrain-window", "1h"], "add --retrain"),
    ):
        bad = govern("monitor", "add", "m", "--model", f"{MODEL}@1", "--kind", "data_drift", *args, expect=2)
        assert says in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    with db.transaction() as s:
        assert (
            s.scalars(select(Monitor)).all() == []
            and len(s.scalars(select(ChangePlan)).all()) == plans_before
        )

    govern(
        "monitor", "add", "drift", "--model", f"{MODEL}@1", "--kind", "data_drift",
        "--retrain", "--retrain-window", "90m", "--no-retrain-reference",
    )  # fmt: skip
    plan = _json(govern("retrain", "plan", MODEL, "--json"))
    assert plan["version"] == 1 and plan["training_data"] == {
        "window_seconds": 5400,
        "reference": False,
        "reference_dataset": "digits@1",
    }
    start = scenario.first_window(SMALL)
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, f"{MODEL}@1")
        monitor = s.scalars(select(Monitor)).one()
        # the breaching window is the last hour: the plan's 90 minutes reach half into the one before
        job = jobs.create(
            s,
            model_version_id=mv.id,
            monitor=monitor,
            window_start=start + timedelta(hours=2),
            reason="breach",
            params={},
            actor="t",
        )
        assert job is not None and job.params["change_plan"] == 1
        _, reference, produced, *_, summary = training_data.assemble(s, job=job)
        end = pd.Timestamp(start + timedelta(hours=3))
        assert len(reference) == 0 and summary["reference"] is None  # --no-retrain-reference
        assert (
            produced["timestamp"].min() >= end - pd.Timedelta(minutes=90)
            and produced["timestamp"].max() < end
        )
        assert summary["production_records"] == len(produced) and 80 < len(produced) < 160
        assert summary["excluded_before_window"] == 3 * 80 - len(produced)  # counted, not silently dropped
        jobs.finish(s, job_id=job.id, status="cancelled", result={}, error=None, actor="t")

    # The same rules with the reference again: a new plan version, the window carried over.
    govern(
        "monitor",
        "add",
        "drift-2",
        "--model",
        f"{MODEL}@1",
        "--kind",
        "data_drift",
        "--retrain",
        "--retrain-reference",
    )
    history = _json(govern("retrain", "plan", MODEL, "--history", "--json"))
    assert [p["version"] for p in history] == [1, 2] and history[1]["training_data"]["reference"] is True
    assert history[1]["training_data"]["window_seconds"] == 5400
    with db.transaction() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "model")).all()
        assert actions.count("changeplan.set") == 2

    # A window with no labelled record in it: the job fails with one sentence, nothing registered.
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, f"{MODEL}@1")
        monitor = s.scalars(select(Monitor).where(Monitor.name == "drift")).one()
        jobs.create(
            s,
            model_version_id=mv.id,
            monitor=monitor,
            window_start=start - timedelta(hours=5),
            reason="old",
            params={},
            actor="t",
        )
        datasets = len(dataset_service.get_by_ref(s, "digits@1").dataset.versions)
    config = WorkerConfig(storage_root=settings.storage_root, actor="worker", name="w", epochs=3)
    (failed,) = work(db, config=config, once=True)
    assert failed["status"] == "failed"
    assert failed["error"].startswith(
        f"no labelled production record of model {MODEL} falls within the retrain window of 90m"
    )
    assert "\n" not in failed["error"]
    with db.transaction() as s:
        assert len(dataset_service.get_by_ref(s, "digits@1").dataset.versions) == datasets
        assert s.scalars(select(RetrainJob.status).order_by(RetrainJob.id)).all() == ["cancelled", "failed"]


def test_a_retrain_outside_the_plan_needs_approval_and_the_report_shows_the_plan(
    db: Database, govern: Any, tmp_path: Path
) -> None:
    settings, _ = _setup(db, tmp_path)
    govern(
        "monitor", "add", "drift", "--model", f"{MODEL}@1", "--kind", "data_drift",
        "--retrain", "--retrain-max-epochs", "2",
    )  # fmt: skip
    queued = _json(govern("retrain", "request", f"{MODEL}@1", "--epochs", "3", "--json"))
    assert queued["outside_plan"] == ["3 epochs exceed the bound of 2"]
    config = WorkerConfig(storage_root=settings.storage_root, actor="worker", name="w", epochs=3)
    (outcome,) = work(db, config=config, once=True)
    assert outcome["status"] == "succeeded" and outcome["passed"] is True, outcome
    assert outcome["change_plan"] == {
        "version": 1,
        "within": False,
        "deviations": ["3 epochs exceed the bound of 2"],
    }
    # low risk, yet it stays in staging: the plan was left, so it needs an approved request
    assert outcome["stage"] == "staging"
    unmet = {r["name"]: r["detail"] for r in outcome["policy"]["requirements"] if not r["met"]}
    assert set(unmet) == {"approvals", "change_plan"}
    assert "needs an approved request whatever the risk tier" in unmet["change_plan"]
    editor = _key(govern, "ed", "editor")
    refused = govern(
        "promote", f"{MODEL}@2", "--stage", "production", env_extra={"GOVERN_API_KEY": editor}, expect=2
    )
    assert "outside change plan version 1" in refused.stderr
    request = _json(govern("approval", "request", f"{MODEL}@2", "--json"))
    assert request["levels"] == ["approver"] and request["risk_tier"] == "low"
    approver = _key(govern, "alice", "approver")
    govern("approval", "approve", str(request["id"]), env_extra={"GOVERN_API_KEY": approver})
    govern("promote", f"{MODEL}@2", "--stage", "production", env_extra={"GOVERN_API_KEY": editor})

    with db.transaction() as s:
        v2 = model_service.get_by_ref(s, f"{MODEL}@2")
        check = changeplan_service.check_of(s, mv=v2)
        assert check is not None and not check.within and check.plan_version == 1
        report = report_service.build(s, mv=v2)
    plan = report["change_plan"]
    assert plan["plan"]["hyperparameters"] == {"max_epochs": 2, "adversarial": True}
    assert plan["plan"]["gates"]["champion_challenger"] == {"margin": 0.0, "confidence": 0.95}
    assert plan["this_version"]["deviations"] == ["3 epochs exceed the bound of 2"]
    html = render.to_html(report).decode()
    assert "Predetermined change plan" in html and "3 epochs exceed the bound of 2" in html
    assert "at most 2 epochs" in html
    govern("report", f"{MODEL}@2", "--format", "pdf", "-o", str(tmp_path / "r.pdf"))
    assert (tmp_path / "r.pdf").stat().st_size > 1000
    assert np.isfinite(outcome["seconds"])
