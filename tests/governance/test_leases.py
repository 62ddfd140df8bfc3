"""Leases that recover promptly: a killed scheduler's window is taken over within its short lease
(a live one's is not), coalesce runs the latest window however long the gap, a long catch-up
queues one retrain, and a job whose worker keeps dying stops blocking the model's retraining."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from governance.db import Database, utcnow
from governance.mlmodel.models import ModelVersion
from governance.monitoring import jobs
from governance.monitoring import service as monitoring
from governance.monitoring.models import MonitorRun, RetrainJob
from governance.monitoring.schedule import Window, due_windows, fire_times, latest_fire_time
from governance.monitoring.service import CheckOutcome
from tests.governance import factories as make

ROOT = Path(__file__).resolve().parents[2]


def _monitor(db: Database, tmp_path: Path, **fields: Any) -> int:
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "m@1")
        defaults: dict[str, Any] = {
            "name": "drift",
            "kind": "data_drift",
            "schedule": "every 1h",
            "window": "1h",
        }
        return monitoring.create(s, mv=mv, actor="t", **{**defaults, **fields}).id


def test_coalesce_runs_the_latest_window_after_a_long_gap() -> None:
    now = datetime(2026, 12, 1, 14, 37, 12, tzinfo=UTC)
    start = now - timedelta(days=730)  # a million missed minutes
    started = time.perf_counter()
    (window,) = due_windows("every 1m", start, 60, None, now, "coalesce")
    assert window == Window(
        datetime(2026, 12, 1, 14, 36, 12, tzinfo=UTC), datetime(2026, 12, 1, 14, 37, 12, tzinfo=UTC)
    )
    (cron,) = due_windows("*/5 * * * *", start, 300, start + timedelta(days=1), now, "coalesce")
    assert cron.end == datetime(2026, 12, 1, 14, 35, tzinfo=UTC)
    (weekly,) = due_windows("0 6 * * 1", start, 3600, None, now, "coalesce")
    # APScheduler's own walk over the last fortnight is the oracle for the weekly cron expression
    assert weekly.end == fire_times("0 6 * * 1", start, now - timedelta(days=14), now)[-1]
    assert time.perf_counter() - started < 1.0
    assert latest_fire_time("every 1h", start, now, now) is None  # nothing new since the last run
    # the closed form agrees with APScheduler's own walk where the walk is short
    short = now - timedelta(hours=5, minutes=7)
    assert (
        due_windows("every 13m", short, 60, None, now, "all")[-1]
        == due_windows("every 13m", short, 60, None, now, "coalesce")[0]
    )


def test_a_long_catch_up_queues_one_retrain(db: Database, tmp_path: Path) -> None:
    """Two hundred breached hourly windows caught up at once, with a worker finishing each job at
    once: the first breach retrains; every later window ended before that retrain was requested."""
    start = utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=200)
    monitor_id = _monitor(
        db, tmp_path, start_at=start, catchup="all", retrain_policy={"consecutive": 1, "cooldown_seconds": 0}
    )
    with db.transaction() as s:
        windows = monitoring.pending_windows(s, monitor=monitoring.get(s, ident=monitor_id), now=utcnow())
    assert len(windows) == 200
    for window in windows:
        run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="w")
        assert run_id is not None
        with db.transaction() as s:
            outcome = CheckOutcome("breach", {"share": 0.9}, {"share": 0.5}, "drifted")
            monitoring.finish(s, run_id=run_id, outcome=outcome, duration_ms=1, actor="t")
        job_id = jobs.claim(db, worker="fast-worker")
        if job_id is not None:
            with db.transaction() as s:
                jobs.finish(s, job_id=job_id, status="succeeded", result={}, error=None, actor="fast-worker")
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RetrainJob)) == 1
    # a live window that breaches after the retrain was requested retrains again
    later = Window(utcnow() + timedelta(hours=1), utcnow() + timedelta(hours=2))
    run_id = monitoring.claim(db, monitor_id=monitor_id, window=later, worker="w")
    with db.transaction() as s:
        monitoring.finish(
            s,
            run_id=run_id,
            outcome=CheckOutcome("breach", {}, {}, "drifted"),
            duration_ms=1,
            actor="t",  # type: ignore[arg-type]
        )
        assert s.scalar(select(func.count()).select_from(RetrainJob)) == 2


def test_a_job_whose_worker_keeps_dying_stops_blocking_retraining(db: Database, tmp_path: Path) -> None:
    monitor_id = _monitor(
        db, tmp_path, start_at=utcnow(), retrain_policy={"consecutive": 1, "cooldown_seconds": 0}
    )
    with db.transaction() as s:
        mv_id = s.scalar(select(ModelVersion.id))
        job = jobs.create(
            s,
            model_version_id=mv_id,
            monitor=None,
            window_start=utcnow() - timedelta(days=1),
            reason="t",
            params={},
            actor="t",  # type: ignore[arg-type]
        )
        assert job is not None
        job_id = job.id
    for attempt in range(1, jobs.MAX_JOB_ATTEMPTS + 1):
        assert (
            jobs.claim(db, worker=f"doomed-{attempt}", lease=timedelta(seconds=-1)) == job_id
        )  # dies at once
    assert jobs.claim(db, worker="next") is None
    with db.transaction() as s:
        dead = jobs.get(s, job_id=job_id)
        assert dead.status == "failed" and "stopped renewing its lease" in (dead.error or "")
        s.execute(update(RetrainJob).values(created_at=utcnow() - timedelta(days=1)))
    window = Window(utcnow(), utcnow() + timedelta(hours=1))
    run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="w")
    with db.transaction() as s:
        monitoring.finish(
            s, run_id=run_id, outcome=CheckOutcome("breach", {}, {}, "x"), duration_ms=1, actor="t"
        )  # type: ignore[arg-type]
        assert s.scalars(select(RetrainJob.status).order_by(RetrainJob.id)).all() == ["failed", "queued"]


SLOW_SCHEDULER = """
import sys, time
from monitors.checks import CHECKS  # the real checks; one is made slow
from governance.monitoring.service import CheckOutcome

def slow(data):
    time.sleep(120)
    return CheckOutcome("ok", {}, {}, "slow")

CHECKS["model_drift"] = slow
from governance.cli import main
main(["scheduler", "--once"])
"""


def test_a_killed_scheduler_s_window_is_taken_over_within_the_lease(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    lease = 2.0
    monitor_id = _monitor(db, tmp_path, kind="model_drift", start_at=utcnow() - timedelta(hours=3))
    env = {
        **os.environ,
        "GOVERN_DATABASE_URL": database_url,
        "GOVERN_STORAGE_ROOT": str(tmp_path / "storage"),
        "GOVERN_LEASE_SECONDS": str(lease),
        "PYTHONPATH": str(ROOT),
    }
    process = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCHEDULER], env=env, cwd=ROOT, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 120
        run = None
        while run is None:
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the scheduler never claimed the window"
            with db.transaction() as s:
                run = s.scalar(select(MonitorRun).where(MonitorRun.monitor_id == monitor_id))
                claimed = (run.claimed_by, run.lease_until, run.window_start, run.window_end) if run else None
            time.sleep(0.05)
        assert claimed is not None
        owner, first_lease, window = claimed[0], claimed[1], Window(claimed[2], claimed[3])
        # alive: the heartbeat renews the lease, so after the first lease has run out nobody takes it
        time.sleep(lease * 1.75)
        assert monitoring.claim(db, monitor_id=monitor_id, window=window, worker="rescuer") is None
        with db.transaction() as s:
            renewed = s.scalar(select(MonitorRun.lease_until).where(MonitorRun.monitor_id == monitor_id))
            assert renewed is not None and renewed > first_lease
        process.send_signal(signal.SIGKILL)
        process.wait(30)
        killed = time.monotonic()
        taken = None
        while taken is None and time.monotonic() - killed < lease + 5:
            taken = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="rescuer")
            time.sleep(0.05)
        recovered = time.monotonic() - killed
    finally:
        if process.poll() is None:
            process.kill()
    assert taken is not None, f"nobody could take the window {lease + 5:.0f} s after the kill"
    assert recovered <= lease + 1.0, f"taken over {recovered:.1f} s after the kill"
    with db.transaction() as s:
        run = s.get(MonitorRun, taken)
        assert run is not None and run.attempts == 2 and run.claimed_by == "rescuer" and owner != "rescuer"
