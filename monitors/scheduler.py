"""``govern scheduler``: run due monitor windows on a schedule, driven by APScheduler.

APScheduler only provides the heartbeat (one tick job, never two at once in a process); which
windows are due and who runs them is decided in the database (see ``governance.monitoring``), so
any number of scheduler processes against one PostgreSQL run each (monitor, window) exactly once.

Alert deliveries never run inside the tick: a :class:`~governance.monitoring.channels.Deliverer`
beside it claims due deliveries and sends them on a bounded thread pool, so a slow or dead channel
delays only its own delivery, never the other monitors' windows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
from datetime import timedelta
from typing import Any

from governance.db import Database, utcnow
from governance.monitoring import channels
from governance.monitoring import service as monitoring
from governance.storage import StorageRoot
from monitors import checks as _checks  # noqa: F401  (installs the checks)
from monitors.runner import RunReport, run_window
from monitors.sandbox import ModelCheckLimits

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def tick(
    db: Database,
    *,
    actor: str,
    storage_root: StorageRoot,
    worker: str | None = None,
    lease: timedelta = monitoring.DEFAULT_LEASE,
    progress: bool = False,
    delivery: channels.DeliveryConfig | None = None,
    deliverer: channels.Deliverer | None = None,
    drain_seconds: float | None = None,
    model_limits: ModelCheckLimits | None = None,
) -> list[RunReport]:
    """Run every due window of every enabled monitor once; alert deliveries go out beside it.

    With a long-lived ``deliverer`` (``serve``) the tick only wakes it after each run. Without one
    the tick starts its own, lets it send while the windows run, and gives the deliveries at most
    ``drain_seconds`` (by default twice the operator's channel timeout) after the last window.
    """
    worker = worker or worker_name()
    own = deliverer is None
    sender = deliverer or channels.Deliverer(db, delivery).start(poll_seconds=0.5)
    now = utcnow()
    try:
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
                model_limits=model_limits,
            )
            if report is not None:
                reports.append(report)
                sender.wake()
        if progress and due:
            sys.stderr.write("\n")
        if own:
            bound = drain_seconds
            if bound is None:
                bound = 2 * sender.config.policy.max_timeout_seconds + 5
            sender.drain(bound)
    finally:
        if own:
            sender.close()
    return reports


def serve(
    db: Database,
    *,
    interval_seconds: float,
    actor: str,
    storage_root: StorageRoot,
    delivery: channels.DeliveryConfig | None = None,
    lease: timedelta = monitoring.DEFAULT_LEASE,
    model_limits: ModelCheckLimits | None = None,
) -> None:
    """Tick every ``interval_seconds`` until SIGINT/SIGTERM; deliveries go out beside the ticks."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")
    worker = worker_name()
    deliverer = channels.Deliverer(db, delivery).start()

    def job() -> None:
        reports = tick(
            db,
            actor=actor,
            storage_root=storage_root,
            worker=worker,
            lease=lease,
            progress=sys.stderr.isatty(),
            deliverer=deliverer,
            model_limits=model_limits,
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
    try:
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            scheduler.start()
    finally:
        deliverer.close(wait_seconds=5)
