"""The monitoring core: window claims, alerts and retrain-job policy (deliveries: test_channels.py)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from governance.db import Database
from governance.errors import InvalidInput
from governance.monitoring import alerts, jobs
from governance.monitoring import service as monitoring
from governance.monitoring.models import Alert, AlertDelivery, MonitorRun, RetrainJob
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from tests.governance import factories as make
from tests.governance.concurrency import wait_for_a_blocked_advisory_lock

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def _monitor(db: Database, tmp_path: Path, **fields: Any) -> int:
    with db.transaction() as s:
        mv = make.model(s, tmp_path, "m@1")
        defaults: dict[str, Any] = {
            "name": "drift",
            "kind": "data_drift",
            "schedule": "every 1h",
            "window": "1h",
            "start_at": T0,
        }
        monitor = monitoring.create(s, mv=mv, actor="t", **{**defaults, **fields})
        return monitor.id


def _run(db: Database, monitor_id: int, hour: int, status: str) -> int:
    window = Window(T0 + timedelta(hours=hour), T0 + timedelta(hours=hour + 1))
    run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="w")
    assert run_id is not None
    with db.transaction() as s:
        monitoring.finish(
            s,
            run_id=run_id,
            outcome=CheckOutcome(status, {"share": 0.6}, {"share": 0.5}, f"window {hour}: {status}"),
            duration_ms=5,
            actor="t",
        )
    return run_id


def test_pending_windows_follow_the_schedule_and_catchup(db: Database, tmp_path: Path) -> None:
    coalesce = _monitor(db, tmp_path)
    with db.transaction() as s:
        m = monitoring.get(s, ident=coalesce)
        assert monitoring.pending_windows(s, monitor=m, now=T0 + timedelta(minutes=30)) == []
        windows = monitoring.pending_windows(s, monitor=m, now=T0 + timedelta(hours=3, minutes=1))
        assert windows == [Window(T0 + timedelta(hours=2), T0 + timedelta(hours=3))]
        m.catchup = "all"
        windows = monitoring.pending_windows(s, monitor=m, now=T0 + timedelta(hours=3, minutes=1))
        assert [w.end for w in windows] == [T0 + timedelta(hours=h) for h in (1, 2, 3)]
    _run(db, coalesce, 0, "ok")
    with db.transaction() as s:
        m = monitoring.get(s, ident=coalesce)
        m.catchup = "all"
        assert [w.end for w in monitoring.pending_windows(s, monitor=m, now=T0 + timedelta(hours=3))] == [
            T0 + timedelta(hours=2),
            T0 + timedelta(hours=3),
        ]


def test_a_window_is_claimed_once_and_an_expired_lease_is_retried(db: Database, tmp_path: Path) -> None:
    monitor_id = _monitor(db, tmp_path)
    window = Window(T0, T0 + timedelta(hours=1))
    first = monitoring.claim(
        db, monitor_id=monitor_id, window=window, worker="a", lease=timedelta(seconds=-1)
    )
    assert first is not None
    # the lease already ran out (as if worker a was killed): b takes the window over, c gets nothing
    second = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="b")
    assert second == first
    assert monitoring.claim(db, monitor_id=monitor_id, window=window, worker="c") is None
    with db.transaction() as s:
        run = s.get(MonitorRun, first)
        assert run is not None and run.attempts == 2 and run.claimed_by == "b"
        assert monitoring.pending_windows(s, monitor=run.monitor, now=T0 + timedelta(hours=1)) == []


def test_alert_opens_updates_and_resolves(db: Database, tmp_path: Path) -> None:
    monitor_id = _monitor(db, tmp_path)
    _run(db, monitor_id, 0, "breach")
    _run(db, monitor_id, 1, "breach")
    with db.transaction() as s:
        open_alerts = alerts.list_alerts(s, status="open")
        assert len(open_alerts) == 1 and open_alerts[0].breaches == 2
        assert open_alerts[0].message == "window 1: breach"
    _run(db, monitor_id, 2, "warning")
    with db.transaction() as s:
        assert len(alerts.list_alerts(s, status="open")) == 1
    _run(db, monitor_id, 3, "ok")
    with db.transaction() as s:
        (alert,) = alerts.list_alerts(s)
        assert alert.status == "resolved" and alert.resolved_by == "t"
        events = [d.event for d in s.scalars(select(AlertDelivery).order_by(AlertDelivery.id))]
        assert events == ["opened", "resolved"]


def test_windows_that_finish_out_of_order_leave_the_newest_verdict(db: Database, tmp_path: Path) -> None:
    """Several schedulers may finish a monitor's windows out of order; the newest window decides."""
    late_breach = _monitor(db, tmp_path)
    _run(db, late_breach, 1, "ok")
    _run(db, late_breach, 0, "breach")  # the monitor passed after this window: no alert opens
    with db.transaction() as s:
        assert alerts.list_alerts(s) == []
        assert s.get(MonitorRun, 2).status == "breach"  # the run keeps its own verdict


def test_an_older_window_neither_resolves_nor_speaks_for_a_newer_alert(db: Database, tmp_path: Path) -> None:
    late_pass = _monitor(db, tmp_path)
    _run(db, late_pass, 2, "breach")
    _run(db, late_pass, 1, "ok")  # older than the breach: the alert stays open
    _run(db, late_pass, 0, "breach")  # an older breach counts but does not speak for the alert
    with db.transaction() as s:
        (alert,) = alerts.list_alerts(s)
        assert alert.status == "open" and alert.breaches == 2
        assert alert.message == "window 2: breach"
        assert alert.window_start == T0 and alert.window_end == T0 + timedelta(hours=3)
    _run(db, late_pass, 3, "ok")
    with db.transaction() as s:
        assert [a.status for a in alerts.list_alerts(s)] == ["resolved"]


def test_ack_and_resolve_by_hand(db: Database, tmp_path: Path) -> None:
    monitor_id = _monitor(db, tmp_path)
    _run(db, monitor_id, 0, "breach")
    with db.transaction() as s:
        alert_id = alerts.list_alerts(s)[0].id
        alerts.acknowledge(s, alert_id=alert_id, actor="ops")
    _run(db, monitor_id, 1, "breach")  # still the same alert while acknowledged
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        alerts.resolve(s, alert_id=alert_id, actor="ops", comment="false alarm")
    _run(db, monitor_id, 2, "breach")  # a new breach after resolution opens a new alert
    with db.transaction() as s:
        assert [a.status for a in alerts.list_alerts(s)] == ["open", "resolved"]


def test_retrain_policy_consecutive_one_active_job_and_cooldown(db: Database, tmp_path: Path) -> None:
    monitor_id = _monitor(db, tmp_path, retrain_policy={"consecutive": 2, "cooldown_seconds": 0})
    _run(db, monitor_id, 0, "breach")
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RetrainJob)) == 0  # one breach is not two
    _run(db, monitor_id, 1, "breach")
    _run(db, monitor_id, 2, "breach")  # a job is already queued for the model: no second one
    with db.transaction() as s:
        (job,) = s.scalars(select(RetrainJob)).all()
        assert job.key.endswith(":" + (T0 + timedelta(hours=1)).isoformat())
    first = jobs.claim(db, worker="w1")
    assert first == job.id and jobs.claim(db, worker="w2") is None
    with db.transaction() as s:
        jobs.finish(s, job_id=job.id, status="succeeded", result={}, error=None, actor="w1")
        # as if windows were live: the job was requested when window 1 ended, before window 3 did
        s.get(RetrainJob, job.id).created_at = T0 + timedelta(hours=2)  # type: ignore[union-attr]
    _run(db, monitor_id, 3, "breach")
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RetrainJob)) == 2


def test_concurrent_breaches_of_one_monitor_open_one_alert_and_one_job(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Two schedulers finish two windows of one monitor at once, both breaching.

    Each looks for an open alert and an active job before writing; without a lock both saw none
    and the monitor got two alerts (seen under CI with two `govern scheduler` processes).
    """
    if not database_url.startswith("postgresql"):
        pytest.skip("several concurrent schedulers of one database is the PostgreSQL deployment")
    monitor_id = _monitor(db, tmp_path, retrain_policy={"consecutive": 1, "cooldown_seconds": 0})
    runs = []
    for hour in (0, 1):
        window = Window(T0 + timedelta(hours=hour), T0 + timedelta(hours=hour + 1))
        run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker=f"w{hour}")
        assert run_id is not None
        runs.append(run_id)
    finished = threading.Event()
    failures: list[BaseException] = []

    def breach(run_id: int) -> None:
        with db.transaction() as s:
            monitoring.finish(
                s,
                run_id=run_id,
                outcome=CheckOutcome("breach", {"share": 0.6}, {"share": 0.5}, "breach"),
                duration_ms=5,
                actor="t",
            )
            finished.set()
            wait_for_a_blocked_advisory_lock(db)

    def first() -> None:
        try:
            breach(runs[0])
        except BaseException as exc:  # surfaced below
            failures.append(exc)

    thread = threading.Thread(target=first)
    thread.start()
    assert finished.wait(60)
    with db.transaction() as s:
        monitoring.finish(
            s,
            run_id=runs[1],
            outcome=CheckOutcome("breach", {"share": 0.7}, {"share": 0.5}, "breach again"),
            duration_ms=5,
            actor="t",
        )
    thread.join(60)
    assert not failures, failures
    with db.transaction() as s:
        (alert,) = s.scalars(select(Alert)).all()
        assert alert.status == "open" and alert.breaches == 2
        assert s.scalar(select(func.count()).select_from(RetrainJob)) == 1


def test_cooldown_blocks_a_second_job(db: Database, tmp_path: Path) -> None:
    monitor_id = _monitor(db, tmp_path, retrain_policy={"consecutive": 1, "cooldown_seconds": 3600})
    _run(db, monitor_id, 0, "breach")
    job_id = jobs.claim(db, worker="w")
    with db.transaction() as s:
        jobs.finish(s, job_id=job_id, status="succeeded", result={}, error=None, actor="w")  # type: ignore[arg-type]
    _run(db, monitor_id, 1, "breach")
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(RetrainJob)) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "vibes"}, "monitor kind 'vibes'"),
        ({"schedule": "whenever"}, "schedule 'whenever'"),
        ({"window": "0m"}, "window '0m'"),
        ({"channels": [{"type": "pager"}]}, "alert channel type 'pager'"),
        ({"channels": [{"type": "webhook", "url": "ftp://x"}]}, "webhook channel needs"),
        ({"retrain_policy": {"consecutive": 0}}, "'consecutive' must be"),
    ],
)
def test_bad_monitor_definitions(db: Database, tmp_path: Path, fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        _monitor(db, tmp_path, **fields)
