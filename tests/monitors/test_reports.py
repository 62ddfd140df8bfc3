"""Cheap windows: a data-drift run stores its verdict, not a report; the report is drawn when opened
(the same Evidently call on the same sample as the old stored one), cached, and collected when old."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from dashboards.api.app import create_app
from dashboards.api.security import FRAMED_DATA_HTML_HEADERS
from governance.auth import service as auth_service
from governance.cli import scenario
from governance.db import Database
from governance.errors import Conflict
from governance.monitoring.models import MonitorRun
from governance.monitoring.schedule import Window
from governance.settings import Settings
from monitors.drift.report import save_report
from monitors.reports import CACHE, RunReports
from monitors.runner import load_window
from tests.monitors.test_sandbox import TINY, _deploy, _monitor
from trainer.workflows import run_window

# Evidently names its widgets with fresh random ids on every call; everything else must be equal.
IDS = re.compile(r"[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _same_report(a: Path, b: Path) -> bool:
    return IDS.sub("ID", a.read_text(encoding="utf-8")) == IDS.sub("ID", b.read_text(encoding="utf-8"))


def _drift_run(db: Database, settings: Settings) -> tuple[int, int, Window]:
    monitor_id = _monitor(db, "drift", "data_drift")
    start = scenario.first_window(TINY) + timedelta(hours=1)
    window = Window(start, start + timedelta(hours=1))
    report = run_window(
        db, monitor_id=monitor_id, window=window, worker="t", actor="t", storage_root=settings.storage_root
    )
    assert report is not None and report.status == "breach", report
    return report.run_id, monitor_id, window


def test_a_window_stores_its_verdict_and_the_report_is_drawn_when_opened(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    settings = _deploy(db, tmp_path, database_url)
    run_id, monitor_id, window = _drift_run(db, settings)
    with db.transaction() as s:
        run = s.get(MonitorRun, run_id)
        assert run is not None
        stored = json.dumps({"metrics": run.metrics, "thresholds": run.thresholds, "details": run.details})
        assert "report_path" not in run.details and run.details["report"]["kind"] == "data_drift"
        assert len(run.details["columns"]) == 64
    assert len(stored.encode()) <= 100_000
    assert not (settings.storage_root / "reports").exists()  # nothing rendered, nothing written

    # What the old check wrote beside the run, for the same window and reference.
    data = load_window(db, monitor_id=monitor_id, window=window, storage_root=settings.storage_root)
    old = save_report(data.reference[data.features], data.frame[data.features], tmp_path / "old.html")

    reports = RunReports(db, settings.storage_root, "30d")
    drawn = Path(reports.path_for(run_id))
    assert drawn.parent == settings.storage_root / CACHE
    assert _same_report(drawn, old)
    before = drawn.stat().st_mtime_ns
    assert Path(reports.path_for(run_id)) == drawn and drawn.stat().st_mtime_ns == before  # cached

    with db.transaction() as s:
        user = auth_service.create_user(s, name="vera", role="viewer", actor="setup")
        key = auth_service.create_key(s, user=user, actor="setup").plaintext
    client = TestClient(create_app(settings, db))
    served = client.get(f"/runs/{run_id}/report", headers={"Authorization": f"Bearer {key}"})
    assert (
        served.status_code == 200
        and served.headers["content-security-policy"] == FRAMED_DATA_HTML_HEADERS["Content-Security-Policy"]
    )
    assert served.text == drawn.read_text(encoding="utf-8")
    assert client.get(f"/runs/{run_id}/report", follow_redirects=False).status_code == 303  # to log in

    # A report older than the retention is drawn again; one whose window changed is refused.
    os.utime(drawn, (time.time() - 3 * 86400, time.time() - 3 * 86400))
    assert Path(RunReports(db, settings.storage_root, "1d").path_for(run_id)) == drawn
    assert time.time() - drawn.stat().st_mtime < 600
    with db.transaction() as s:
        run = s.get(MonitorRun, run_id)
        assert run is not None
        run.details = {**run.details, "report": {**run.details["report"], "window_sha256": "0" * 64}}
    with pytest.raises(Conflict, match="changed after it ran"):
        reports.path_for(run_id)


def _age(path: Path, days: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text("<html>report</html>")
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))
    return path


def test_gc_removes_expired_reports_and_keeps_what_rows_name(
    db: Database, database_url: str, tmp_path: Path, govern: Callable[..., Any]
) -> None:
    storage = tmp_path / "storage"
    govern("storage", "gc")  # an empty database and storage root: nothing to do
    expired = _age(storage / CACHE / "run-1-abc.html", 40)
    fresh = _age(storage / CACHE / "run-2-abc.html", 2)
    legacy = _age(storage / "reports" / "drift" / "20260101T000000-data-drift.html", 400)
    plot = _age(storage / "reports" / "robust" / "20260101T000000-robustness.png", 400)
    orphan = _age(storage / "reports" / "gone" / "20250101T000000-data-drift.html", 400)
    settings = Settings(database_url=database_url, storage_root=storage, actor="t")
    monitor_id = _named_runs(db, settings, legacy, plot)
    assert monitor_id

    dry = json.loads(govern("storage", "gc", "--dry-run", "--json").stdout)
    assert sorted(dry["removed"]) == sorted([str(expired), str(orphan)]) and expired.exists()
    result = json.loads(govern("storage", "gc", "--json").stdout)
    assert sorted(result["removed"]) == sorted([str(expired), str(orphan)])
    assert result["kept_named"] == 2 and result["kept_fresh"] == 1
    assert not expired.exists() and not orphan.exists()
    assert fresh.exists() and legacy.exists() and plot.exists()
    # the retention comes from GOVERN_REPORT_RETENTION unless --retention says otherwise
    govern("storage", "gc", env_extra={"GOVERN_REPORT_RETENTION": "1d"})
    assert not fresh.exists() and legacy.exists()
    bad = govern("storage", "gc", "--retention", "forever", expect=2)
    assert "not a duration" in bad.stderr and "\n" not in bad.stderr.strip()


def _named_runs(db: Database, settings: Settings, report: Path, plot: Path) -> int:
    """Two runs stored the old way: one names its Evidently report, one its robustness plot."""
    from governance.monitoring import service as monitoring

    scenario.deploy(db, settings, settings.storage_root.parent / "work", TINY, lambda _: None)
    monitor_id = _monitor(db, "drift", "data_drift")
    start = scenario.first_window(TINY)
    named: list[dict[str, Any]] = [{"report_path": str(report)}, {"plots": [str(plot)]}]
    for i, details in enumerate(named):
        window = Window(start + timedelta(hours=i), start + timedelta(hours=i + 1))
        run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker="t")
        assert run_id is not None
        with db.transaction() as s:
            run = s.get(MonitorRun, run_id)
            assert run is not None
            run.status, run.details = "ok", details
    return monitor_id


def test_gc_keeps_a_report_a_run_names_by_a_path_relative_to_another_working_folder(
    db: Database, database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Runs stored under the old relative root name ``govern-storage/reports/...``; a gc started from
    another folder (or after the root became absolute) must still see that name."""
    from monitors.reports import collect_garbage

    storage = tmp_path / "srv" / "govern-storage"
    legacy = _age(storage / "reports" / "drift" / "20260101T000000-data-drift.html", 400)
    plot = _age(storage / "reports" / "robust" / "20260101T000000-robustness.png", 400)
    orphan = _age(storage / "reports" / "gone" / "20250101T000000-data-drift.html", 400)
    settings = Settings(database_url=database_url, storage_root=storage, actor="t")
    _named_runs(db, settings, Path("govern-storage/reports/drift/20260101T000000-data-drift.html"), plot)
    monkeypatch.chdir(tmp_path)  # not the folder the runs were written from
    result = collect_garbage(db, storage, retention="30d")
    assert result["removed"] == [str(orphan)] and result["kept_named"] == 2
    assert legacy.exists() and plot.exists() and not orphan.exists()


def test_a_bad_retention_from_the_environment_is_named_as_such(
    tmp_path: Path, govern: Callable[..., Any]
) -> None:
    bad = govern("storage", "gc", env_extra={"GOVERN_REPORT_RETENTION": "forever"}, expect=2)
    assert "GOVERN_REPORT_RETENTION" in bad.stderr and "\n" not in bad.stderr.strip()
