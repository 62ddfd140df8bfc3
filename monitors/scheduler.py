"""``govern scheduler``: run due monitor windows on a schedule, driven by APScheduler.

APScheduler only provides the heartbeat (one tick job, never two at once in a process); which
windows are due and who runs them is decided in the database (see ``governance.monitoring``), so
any number of scheduler processes against one PostgreSQL run each (monitor, window) exactly once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from governance.db import Database, utcnow
from governance.monitoring import channels
from governance.monitoring import service as monitoring
from monitors import checks as _checks  # noqa: F401  (installs the checks)
from monitors.runner import RunReport, run_window

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def tick(
    db: Database,
    *,
    actor: str,
    storage_root: Path,
    worker: str | None = None,
    lease: timedelta = monitoring.DEFAULT_LEASE,
    progress: bool = False,
) -> list[RunReport]:
    """Run every due window of every enabled monitor once; retry due alert deliveries."""
    worker = worker or worker_name()
    now = utcnow()
    with db.transaction() as session:
        due = [
            (m.id, m.name, w)
            for m in monitoring.list_monitors(session)
            if m.enabled
            for w in monitoring.pending_windows(session, monitor=m, now=now)
        ]
    reports = []
    for i, (monitor_id, name, window) in enumerate(due, 1):
        if progress:
            sys.stderr.write(f"\r[{i}/{len(due)}] {name}: {window.label()} ")
            sys.stderr.flush()
        report = run_window(
            db,
            monitor_id=monitor_id,
            window=window,
            worker=worker,
            actor=actor,
            storage_root=storage_root,
            lease=lease,
        )
        if report is not None:
            reports.append(report)
    if progress and due:
        sys.stderr.write("\n")
    channels.deliver_pending(db)
    return reports


def serve(db: Database, *, interval_seconds: float, actor: str, storage_root: Path) -> None:
    """Tick every ``interval_seconds`` until SIGINT/SIGTERM."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")
    worker = worker_name()

    def job() -> None:
        reports = tick(
            db, actor=actor, storage_root=storage_root, worker=worker, progress=sys.stderr.isatty()
        )
        for r in reports:
            logger.info("%s %s %s (%d ms)", r.monitor, r.window.label(), r.status, r.duration_ms)

    scheduler.add_job(
        job,
        "interval",
        seconds=interval_seconds,
        next_run_time=utcnow(),
        max_instances=1,
        coalesce=True,
        id="govern-tick",
    )

    def stop(*_: Any) -> None:
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)
    logger.warning("scheduler %s ticking every %ss", worker, interval_seconds)
    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        scheduler.start()
