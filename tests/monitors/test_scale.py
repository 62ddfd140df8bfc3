"""Two real scheduler processes, each with its own process pool, share one database: every window
of the hour runs exactly once, none is lost (issue 15's scale path; ``benchmarks/scale.py``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest
from sqlalchemy import func, select

from benchmarks import scale
from governance.db import Database
from governance.monitoring.models import MonitorRun
from governance.monitoring.service import RESULT_STATUSES
from monitors import scheduler

ROOT = Path(__file__).resolve().parents[2]

# imports everything first, then waits for the start file, so both ticks begin together
SCHEDULER = """
import sys, time
from pathlib import Path
from governance.cli import main
from monitors import scheduler  # noqa: F401
start = Path(sys.argv[1])
while not start.exists():
    time.sleep(0.02)
main(["scheduler", "--once", "--json"])
"""


@pytest.mark.slow
def test_two_schedulers_with_pools_run_every_window_once(database_url: str, tmp_path: Path) -> None:
    world = scale.build(database_url, tmp_path / "world", models=12, rows=120)
    scale.make_due(database_url)
    start = tmp_path / "start"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GOVERN_DATABASE_URL": database_url,
        "GOVERN_STORAGE_ROOT": str(tmp_path / "storage"),
        "GOVERN_ACTOR": "scheduler",
        "GOVERN_SCHEDULER_PROCESSES": "2",
        "GOVERN_CHANNEL_MAX_TIMEOUT_SECONDS": "1",
    }
    env.pop("GOVERN_API_KEY", None)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCHEDULER, str(start)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    time.sleep(1.0)
    start.touch()
    outputs = [p.communicate(timeout=240) for p in procs]
    for p, (_, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err.decode()[-3000:]
    reported = [json.loads(out) for out, _ in outputs]

    # each scheduler reports only the windows its own pool claimed; together: each window once
    keys = [(r["monitor"], r["window_start"]) for rows in reported for r in rows]
    assert len(keys) == world.monitors == len(set(keys))
    assert all(rows for rows in reported), "one scheduler ran every window: the race was not run"
    assert {r["status"] for rows in reported for r in rows} <= set(RESULT_STATUSES)

    db = Database(database_url)
    try:
        with db.transaction() as session:
            per_window = session.execute(
                select(MonitorRun.monitor_id, func.count(), func.max(MonitorRun.attempts)).group_by(
                    MonitorRun.monitor_id, MonitorRun.window_start
                )
            ).all()
            statuses = set(session.scalars(select(MonitorRun.status)))
            claimers = set(session.scalars(select(MonitorRun.claimed_by)))
    finally:
        db.dispose()
    assert len(per_window) == world.monitors  # none lost
    assert {(rows, attempts) for _, rows, attempts in per_window} == {(1, 1)}  # none run twice
    assert statuses <= set(RESULT_STATUSES)
    assert len({c.rsplit("/", 1)[0] for c in claimers}) == 2  # both schedulers' pools claimed


@pytest.mark.slow
def test_a_pool_whose_process_died_is_replaced(tmp_path: Path) -> None:
    """``govern scheduler`` keeps its pool across ticks: once a process of it died (killed for
    memory, say) the pool refuses every task, so the scheduler starts a new one and ticks on."""
    url = f"sqlite:///{tmp_path / 'govern.db'}"
    world = scale.build(url, tmp_path / "world", models=1, rows=60)
    scale.make_due(url)
    db = Database(url)
    pool = scheduler.start_pool(db, 2)
    options = {"actor": "scheduler", "storage_root": tmp_path / "world" / "storage", "drain_seconds": 1}
    try:
        with pytest.raises(BrokenProcessPool):
            pool.submit(os._exit, 9).result()  # a pool process dies
        reports, fresh = scheduler.tick_on_pool(db, pool, processes=2, **options)
        assert reports == [] and fresh is not pool
        pool = fresh
        reports, kept = scheduler.tick_on_pool(db, pool, processes=2, **options)
        assert kept is pool
        assert {r.status for r in reports} <= set(RESULT_STATUSES)
        assert len(reports) == world.monitors  # none was lost to the dead pool
    finally:
        pool.shutdown(cancel_futures=True)
        db.dispose()
