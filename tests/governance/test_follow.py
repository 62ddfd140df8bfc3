"""Monitors that follow a model: each window judged against the version in production then, its
alert resolved when a new version takes over, no retrain for a replaced version; labels that arrive
late (the label delay, and windows with too few labels)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import Result
from sqlalchemy import func, select

from governance.auth.principal import Principal
from governance.cli.scenario import demo_principal
from governance.db import Database
from governance.errors import InvalidInput
from governance.mlmodel import service as model_service
from governance.mlmodel.models import StageTransition
from governance.monitoring import service as monitoring
from governance.monitoring.models import Alert, Monitor, MonitorRun, RetrainJob
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from governance.production import service as production
from governance.promotion import promote
from governance.settings import Settings
from governance.storage import LocalStorage
from tests.governance import factories as make
from trainer.workflows import run_window

T0 = datetime(2026, 11, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def _owner(db: Database, tmp_path: Path) -> Principal:
    return demo_principal(db, Settings(database_url="sqlite://", storage_root=tmp_path, actor="tester"))


def _promote(db: Database, owner: Principal, ref: str, at: datetime) -> None:
    """Promote ``ref`` to production through the policy, then place the move at ``at`` in the history
    (the windows of these tests lie in the past)."""
    with db.transaction() as s:
        transitions = promote(s, mv=model_service.get_by_ref(s, ref), stage="production", principal=owner)
        for t in transitions:
            t.at = at


def _window(hours: float, length: float = 1.0) -> Window:
    start = T0 + timedelta(hours=hours)
    return Window(start, start + timedelta(hours=length))


def _finish(db: Database, monitor_id: int, window: Window, status: str) -> int:
    run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="w")
    assert run_id is not None
    with db.transaction() as s:
        monitor = monitoring.get(s, ident=monitor_id)
        watched = monitoring.watched_version(s, monitor=monitor, window=window)
        assert watched is not None
        monitoring.finish(
            s,
            run_id=run_id,
            outcome=CheckOutcome(status, {"share": 0.6}, {"share": 0.5}, f"{window.label()}: {status}"),
            duration_ms=5,
            actor="t",
            model_version_id=watched.version.id,
        )
    return run_id


@pytest.fixture
def fraud(db: Database, tmp_path: Path) -> tuple[int, Principal]:
    """Model ``fraud`` with versions 1 and 2 (none in production) and a drift monitor following it."""
    with db.transaction() as s:
        make.model(s, tmp_path, "fraud@1")
        make.model(s, tmp_path, "fraud@2")
        monitor = monitoring.create(
            s,
            name="fraud-drift",
            model=model_service.get_model(s, name="fraud"),
            kind="data_drift",
            schedule="every 1h",
            window="1h",
            start_at=T0,
            actor="t",
            retrain_policy={"consecutive": 1, "cooldown_seconds": 0},
        )
        monitor_id = monitor.id
        assert monitor.to_dict()["model"] == "fraud" and monitor.to_dict()["follows"] is True
    return monitor_id, _owner(db, tmp_path)


def test_a_following_monitor_judges_each_window_against_the_version_in_production_then(
    db: Database, fraud: tuple[int, Principal]
) -> None:
    monitor_id, owner = fraud
    with db.transaction() as s:  # nothing in production yet: the monitor waits for the first version
        m = monitoring.get(s, ident=monitor_id)
        assert monitoring.pending_windows(s, monitor=m, now=T0 + 10 * HOUR) == []
    _promote(db, owner, "fraud@1", T0 + 1 * HOUR)
    _promote(db, owner, "fraud@2", T0 + 5.5 * HOUR)
    with db.transaction() as s:
        m = monitoring.get(s, ident=monitor_id)
        assert monitoring.pending_windows(s, monitor=m, now=T0 + 10 * HOUR + timedelta(minutes=1)) != []

        def judged(window: Window) -> str:
            watched = monitoring.watched_version(s, monitor=m, window=window)
            assert watched is not None
            return watched.version.ref

        assert judged(_window(0)) == "fraud@1"  # before the first version: the one deployed for it
        assert judged(_window(1)) == "fraud@1"
        assert judged(_window(4.6)) == "fraud@1"  # 54 of its 60 minutes served by @1
        assert judged(_window(5)) == "fraud@2"  # 30 minutes each: the later version
        assert judged(_window(5.2)) == "fraud@2"
        assert judged(_window(9)) == "fraud@2"
        # the version's own history starts where it took over (a model-drift baseline, say)
        v2 = monitoring.watched_version(s, monitor=m, window=_window(9))
        assert v2 is not None and v2.since == T0 + 5.5 * HOUR
    run_id = _finish(db, monitor_id, _window(9), "ok")
    with db.transaction() as s:
        run = s.get(MonitorRun, run_id)
        assert run is not None and run.to_dict()["model"] == "fraud@2"
        assert [r.id for r in monitoring.runs(s, monitor=m, model_version_id=run.model_version_id)] == [
            run_id
        ]
        v1 = model_service.get_by_ref(s, "fraud@1")
        assert monitoring.runs(s, monitor=monitoring.get(s, ident=monitor_id), model_version_id=v1.id) == []
        # the monitor watches every version of its model, for the dashboards and the report
        assert [x.id for x in monitoring.list_monitors(s, model_version_id=v1.id)] == [monitor_id]


def test_a_pinned_monitor_keeps_judging_its_version(db: Database, fraud: tuple[int, Principal]) -> None:
    _, owner = fraud
    with db.transaction() as s:
        pinned = monitoring.create(
            s,
            name="fraud-1-drift",
            mv=model_service.get_by_ref(s, "fraud@1"),
            kind="data_drift",
            schedule="every 1h",
            window="1h",
            start_at=T0,
            actor="t",
        )
        assert pinned.to_dict()["model"] == "fraud@1" and pinned.to_dict()["follows"] is False
        pinned_id = pinned.id
    _promote(db, owner, "fraud@1", T0 + 1 * HOUR)
    _promote(db, owner, "fraud@2", T0 + 2 * HOUR)
    with db.transaction() as s:
        watched = monitoring.watched_version(s, monitor=monitoring.get(s, ident=pinned_id), window=_window(5))
        assert watched is not None and watched.version.ref == "fraud@1"


def test_a_takeover_resolves_the_old_versions_alert_and_its_late_breaches_raise_nothing(
    db: Database, fraud: tuple[int, Principal]
) -> None:
    monitor_id, owner = fraud
    _promote(db, owner, "fraud@1", T0)
    _finish(db, monitor_id, _window(1), "breach")
    with db.transaction() as s:
        (alert,) = s.scalars(select(Alert)).all()
        assert alert.to_dict()["model"] == "fraud@1" and alert.status == "open"
        (job,) = s.scalars(select(RetrainJob)).all()
        assert job.model_version.ref == "fraud@1"
        job.status = "succeeded"  # the worker made @2 from it
        job.created_at = T0 + 2 * HOUR  # requested when the breaching window closed, as in real time
    _promote(db, owner, "fraud@2", T0 + 3 * HOUR)
    with db.transaction() as s:
        (alert,) = s.scalars(select(Alert)).all()
        assert alert.status == "resolved"
        assert alert.resolution == "fraud@2 took over production from fraud@1"
        assert alert.to_dict()["resolution"] == alert.resolution

    # a window @1 served, evaluated late (after @2 took over): the run is kept, nothing is raised
    late = _finish(db, monitor_id, _window(2), "breach")
    with db.transaction() as s:
        run = s.get(MonitorRun, late)
        assert run is not None and run.status == "breach" and run.to_dict()["model"] == "fraud@1"
        assert "no longer in production" in run.details["superseded"]
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        assert s.scalar(select(func.count()).select_from(RetrainJob)) == 1

    # a breach of the new version opens its own alert and retrains it
    _finish(db, monitor_id, _window(4), "breach")
    with db.transaction() as s:
        newest = s.scalars(select(Alert).order_by(Alert.id.desc())).first()
        assert newest is not None and newest.status == "open" and newest.to_dict()["model"] == "fraud@2"
        jobs = s.scalars(select(RetrainJob).order_by(RetrainJob.id)).all()
        assert [j.model_version.ref for j in jobs] == ["fraud@1", "fraud@2"]


def test_a_window_waits_for_its_label_delay(db: Database, tmp_path: Path) -> None:
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "late@1")
        monitor = monitoring.create(
            s,
            name="late-concept",
            mv=mv,
            kind="concept_drift",
            schedule="every 1h",
            window="1h",
            start_at=T0,
            actor="t",
            catchup="all",
            label_delay="2h",
        )
        assert monitor.label_delay_seconds == 7200
        now = T0 + 3 * HOUR + timedelta(minutes=1)
        assert [w.end for w in monitoring.pending_windows(s, monitor=monitor, now=now)] == [T0 + HOUR]
        monitor.label_delay_seconds = 0
        assert len(monitoring.pending_windows(s, monitor=monitor, now=now)) == 3
        for bad in ("-1h", "-5"):
            with pytest.raises(InvalidInput, match="must not be shorter than zero"):
                monitoring.create(
                    s,
                    name=f"bad{bad}",
                    mv=mv,
                    kind="concept_drift",
                    schedule="every 1h",
                    window="1h",
                    actor="t",
                    label_delay=bad,
                )


def test_a_window_with_too_few_labels_says_so(db: Database, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    n, labelled = 400, 23
    records = pd.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(n)],
            "timestamp": [T0 + timedelta(seconds=5 * i) for i in range(n)],
            "x": [float(i % 7) for i in range(n)],
            "prediction": [i % 2 for i in range(n)],
        }
    )
    records.to_parquet(tmp_path / "records.parquet")
    pd.DataFrame(
        {"request_id": [f"r{i}" for i in range(labelled)], "label": [i % 2 for i in range(labelled)]}
    ).to_csv(tmp_path / "labels.csv", index=False)
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "late@1")
        for name, kind in (("records.parquet", "predictions"), ("labels.csv", "labels")):
            production.ingest(s, storage=storage, mv=mv, path=tmp_path / name, kind=kind, actor="t")
        monitor_id = monitoring.create(
            s, name="late-concept", mv=mv, kind="concept_drift", schedule="every 1h", window="1h", actor="t"
        ).id
    report = run_window(
        db, monitor_id=monitor_id, window=_window(0), worker="w", actor="t", storage_root=storage.root
    )
    assert report is not None and report.status == "warning" and report.model == "late@1"
    assert "23 of 400 records labelled" in report.summary
    with db.transaction() as s:
        run = s.get(MonitorRun, report.run_id)
        assert run is not None and run.metrics == {"rows": 400, "labelled": 23}


def test_cli_adds_a_monitor_on_a_bare_name_and_shows_the_version_of_each_run(
    govern: Callable[..., Result], db: Database, tmp_path: Path
) -> None:
    with db.transaction() as s:
        make.model(s, tmp_path, "fraud@1")
    added = json.loads(
        govern(
            "monitor",
            "add",
            "fd",
            "--model",
            "fraud",
            "--kind",
            "concept_drift",
            "--label-delay",
            "2h",
            "--start",
            T0.isoformat(),
            "--json",
        ).stdout
    )
    assert added["model"] == "fraud" and added["follows"] is True and added["label_delay_seconds"] == 7200
    pinned = json.loads(
        govern("monitor", "add", "fd1", "--model", "fraud@1", "--kind", "quality", "--json").stdout
    )
    assert pinned["model"] == "fraud@1" and pinned["follows"] is False
    listed = {m["name"]: m["watching"] for m in json.loads(govern("monitor", "list", "--json").stdout)}
    assert listed == {"fd": None, "fd1": "fraud@1"}  # nothing in production yet for fd to follow
    _promote(db, _owner(db, tmp_path), "fraud@1", T0)
    _finish(db, added["id"], _window(0), "ok")
    shown = json.loads(govern("monitor", "show", "fd", "--json").stdout)
    assert [r["model"] for r in shown["runs"]] == ["fraud@1"]
    listed = {m["name"]: m["watching"] for m in json.loads(govern("monitor", "list", "--json").stdout)}
    assert listed == {"fd": "fraud@1", "fd1": "fraud@1"}


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (["--model", "fraud", "--label-delay", "-2h"], "--label-delay '-2h' must not be shorter than zero"),
        (["--model", "fraud", "--label-delay", "soon"], "is not a duration"),
        (["--model", "nobody"], "model 'nobody' is not registered"),
        (["--model", "fraud@9"], "fraud@9 is not registered"),
    ],
)
def test_cli_refuses_bad_monitor_targets_and_delays_and_writes_nothing(
    govern: Callable[..., Result], db: Database, tmp_path: Path, args: list[str], sentence: str
) -> None:
    with db.transaction() as s:
        make.model(s, tmp_path, "fraud@1")
    result = govern("monitor", "add", "bad", *args, "--kind", "concept_drift", expect=2)
    assert sentence in result.stderr and len(result.stderr.strip().splitlines()) == 1
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Monitor)) == 0
        assert (
            s.scalar(select(func.count()).select_from(StageTransition).where(StageTransition.to_stage == "x"))
            == 0
        )


def test_api_adds_a_following_monitor_and_its_runs_name_their_version(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from dashboards.api.app import create_app
    from governance.auth import service as auth_service

    with db.transaction() as s:
        make.model(s, tmp_path, "fraud@1")
        user = auth_service.create_user(s, name="ed", role="editor", actor="t")
        key = auth_service.create_key(s, user=user, actor="t").plaintext
    settings = Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="t")
    with TestClient(create_app(settings)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        body: dict[str, Any] = {
            "name": "api-fd",
            "model": "fraud",
            "kind": "data_drift",
            "start_at": T0.isoformat(),
        }
        created = client.post("/api/v1/monitors", json=body, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["model"] == "fraud" and created.json()["follows"] is True
        bad = client.post(
            "/api/v1/monitors", json={**body, "name": "neg", "label_delay": "-1h"}, headers=headers
        )
        assert bad.status_code in (400, 422) and "shorter than zero" in bad.text
        _promote(db, _owner(db, tmp_path), "fraud@1", T0)
        _finish(db, created.json()["id"], _window(0), "ok")
        runs = client.get("/api/v1/monitors/api-fd/runs", headers=headers).json()
        assert [r["model"] for r in runs["items"]] == ["fraud@1"]
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Monitor).where(Monitor.name == "neg")) == 0
