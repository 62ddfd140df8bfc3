"""The closed loop end to end: deploy, stream drifting data, monitors breach, an alert opens, the
worker retrains, gates and promotes; several schedulers and workers on one PostgreSQL; a worker
killed mid-training that resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from governance.audit import service as audit
from governance.audit.models import AuditEvent
from governance.cli import scenario
from governance.dataset import service as dataset_service
from governance.db import Database, utcnow
from governance.mlmodel import service as model_service
from governance.monitoring import jobs
from governance.monitoring.models import Alert, MonitorRun, RetrainJob
from governance.settings import Settings
from trainer.worker import WorkerConfig, work

ROOT = Path(__file__).resolve().parent.parent
SMALL = scenario.Scenario(windows=4, drift_from=2, rows_per_window=80, epochs=8)


def _settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="tester")


def _quiet(_: str) -> None:
    pass


def test_the_loop_end_to_end(db: Database, database_url: str, tmp_path: Path) -> None:
    settings = _settings(database_url, tmp_path)
    summary = scenario.run(db, settings, tmp_path / "work", SMALL, _quiet)

    statuses = [(r["monitor"], r["status"]) for r in summary["monitor_runs"]]
    drift = [s for m, s in statuses if m.endswith("data-drift")]
    assert len(drift) == 4 and drift[2:] == ["breach", "breach"] and "breach" not in drift[:2]
    assert ("digits-classifier-consistency", "ok") in statuses
    (alert,) = [a for a in summary["alerts"] if a["model"] == "digits-classifier@1"]
    assert alert["monitor"] == "digits-classifier-data-drift" and "columns drifted" in alert["message"]
    # the promotion ended it: the alert belonged to the version that left production
    assert alert["status"] == "resolved"
    assert alert["resolution"] == "digits-classifier@2 took over production from digits-classifier@1"
    # the monitors follow the model: after the promotion they judge the new version
    after = {r["monitor"]: r for r in summary["after_promotion"]}
    assert set(after) == {"digits-classifier-data-drift", "digits-classifier-consistency"}
    assert {r["model"] for r in after.values()} == {"digits-classifier@2"}
    assert after["digits-classifier-consistency"]["status"] == "ok"
    (job,) = summary["retrain_jobs"]
    assert job["status"] == "succeeded" and job["candidate"] == "digits-classifier@2"
    assert {g["name"] for g in job["gates"]} == {
        "champion_challenger",
        "robustness",
        "consistency",
        "licenses",
    }
    assert job["passed_gates"] is True
    assert {(v["version"], v["stage"]) for v in summary["versions"]} == {
        ("1", "archived"),
        ("2", "production"),
    }

    with db.transaction() as s:
        training = dataset_service.get_by_ref(s, "digits@2")
        assert [p.ref for p in training.parents] == ["digits@1"]
        reference = dataset_service.get_by_ref(s, "digits@1")
        assert reference.quality_report is not None and training.quality_report is not None
        # the change plan: the last two hours of labelled records, without the reference
        assert training.rows == 2 * 80
        v2 = model_service.get_by_ref(s, "digits-classifier@2")
        assert {(link.dataset_version.ref, link.role) for link in v2.datasets} == {
            ("digits@2", "train"),
            ("digits@2", "reference"),  # its own training set: the next drift is measured against it
        }
        assert v2.mlflow_run_id
        runs = s.scalars(select(MonitorRun).where(MonitorRun.status == "breach")).all()
        # each run stores how to draw its Evidently report when opened, not the HTML itself
        assert all(
            r.details["report"]["kind"] == "data_drift" and "report_path" not in r.details for r in runs
        )
        assert audit.verify(s).ok
        assert (
            s.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "model.gates"))
            == 1
        )

    from trainer.tracking import MlflowTracker

    tracker = MlflowTracker(None, "digits-classifier", local_dir=settings.storage_root / "mlruns")
    champion = tracker.client.get_model_version_by_alias("digits-classifier", "champion")
    assert champion.run_id == v2.mlflow_run_id


def _govern(
    args: list[str], database_url: str, storage: Path, *, lease_seconds: float | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GOVERN_DATABASE_URL": database_url,
        "GOVERN_STORAGE_ROOT": str(storage),
        "GOVERN_ACTOR": "tester",
        "PYTHONPATH": str(ROOT),
    }
    if lease_seconds is not None:
        env["GOVERN_LEASE_SECONDS"] = str(lease_seconds)
    return subprocess.Popen(
        [sys.executable, "-m", "governance.cli", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.postgres
def test_two_schedulers_and_two_workers_do_everything_once(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes against one database is the PostgreSQL deployment")
    settings = _settings(database_url, tmp_path)
    for name in ("alpha", "beta"):
        pool = scenario.deploy(db, settings, tmp_path / name, SMALL, _quiet, name=name)
        scenario.add_monitors(db, settings, SMALL, name=name, report=False)
        scenario.stream(db, settings, tmp_path / name, SMALL, pool, _quiet, name=name)

    schedulers = [_govern(["scheduler", "--once"], database_url, settings.storage_root) for _ in range(2)]
    for p in schedulers:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err.decode()
    with db.transaction() as s:
        runs = s.scalars(select(MonitorRun)).all()
        keys = [(r.monitor_id, r.window_start) for r in runs]
        assert len(keys) == len(set(keys)) == 2 * (4 + 1)  # 4 drift windows and 1 consistency window each
        assert all(r.status in ("ok", "warning", "breach") and r.attempts == 1 for r in runs)
        executed = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "monitor.run")
        )
        assert executed == len(runs)  # no window was run twice
        assert {r.claimed_by for r in runs}.__len__() >= 1
        assert s.scalar(select(func.count()).select_from(Alert)) == 2
        queued = s.scalars(select(RetrainJob)).all()
        assert len(queued) == 2 and {j.status for j in queued} == {"queued"}

    workers = [
        _govern(["worker", "--once", "--epochs", "4"], database_url, settings.storage_root) for _ in range(2)
    ]
    for p in workers:
        _, err = p.communicate(timeout=900)
        assert p.returncode == 0, err.decode()
    with db.transaction() as s:
        done = s.scalars(select(RetrainJob)).all()
        assert [(j.status, j.attempts) for j in done] == [("succeeded", 1), ("succeeded", 1)], [
            j.error for j in done
        ]
        finished = s.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "retrain.succeeded")
        )
        assert finished == 2
        assert {j.result["candidate"] for j in done} == {"alpha@2", "beta@2"}


def test_a_worker_killed_mid_training_resumes(db: Database, database_url: str, tmp_path: Path) -> None:
    settings = _settings(database_url, tmp_path)
    scenario.deploy(db, settings, tmp_path / "work", SMALL, _quiet)
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, "digits-classifier@1")
        job = jobs.create(
            s,
            model_version_id=mv.id,
            monitor=None,
            window_start=utcnow(),
            reason="test",
            # 200 adversarial epochs without an early stop (the change plan's bound): the kill
            # lands mid-training even on an idle machine
            params={"epochs": 200, "patience": 200, "adversarial": True},
            actor="tester",
        )
        assert job is not None
        job_id = job.id
    checkpoint = settings.storage_root / "checkpoints" / f"job-{job_id}"
    lease = 3.0  # the worker renews it while alive; once killed, the job is free within it
    process = _govern(["worker", "--once"], database_url, settings.storage_root, lease_seconds=lease)
    deadline = time.monotonic() + 300
    while not any(checkpoint.glob("*.pt")) and time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the worker ended before its first checkpoint: {process.stderr.read().decode()}")  # type: ignore[union-attr]
        time.sleep(0.2)
    time.sleep(lease * 1.5)  # longer than one lease: only the heartbeat keeps the job the worker's
    assert jobs.claim(db, worker="thief") is None
    assert process.poll() is None, "the worker finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = utcnow()
    with db.transaction() as s:
        killed = jobs.get(s, job_id=job_id)
        assert killed.status == "running" and killed.attempts == 1
        assert killed.lease_until is not None
        assert (killed.lease_until - killed_at).total_seconds() <= lease + 0.5  # free within one lease
        free_at = killed.lease_until
    while utcnow() <= free_at:
        time.sleep(0.05)
    config = WorkerConfig(storage_root=settings.storage_root, actor="tester", name="second-worker", epochs=40)
    with ThreadPoolExecutor(1) as pool:
        (outcome,) = pool.submit(work, db, config=config, once=True).result(timeout=600)
    assert outcome["status"] == "succeeded" and outcome["resumed_from_epoch"] >= 1
    with db.transaction() as s:
        resumed = jobs.get(s, job_id=job_id)
        assert (
            resumed.status == "succeeded" and resumed.attempts == 2 and resumed.claimed_by == "second-worker"
        )
        assert resumed.started_at is not None
        assert (resumed.started_at - killed_at).total_seconds() < lease + 5  # taken over within the lease
