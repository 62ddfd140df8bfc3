"""``govern scheduler``: run due monitor windows on a schedule, driven by APScheduler.

APScheduler only provides the heartbeat (one tick job, never two at once in a process); which
windows are due and who runs them is decided in the database (see ``governance.monitoring``), so
any number of scheduler processes against one PostgreSQL run each (monitor, window) exactly once.

Each window is the ``run_window`` workflow (:mod:`trainer.workflows`: claim, load, check, store).
With ``processes`` above one a tick hands its due monitors to a pool of that many processes (the
checks are CPU-bound: drift statistics, performance, operational percentiles), each with its own
database connection; every window is still claimed in the database, so a tick's pool and other
scheduler processes never run one window twice. A monitor's windows stay in one task, oldest first.

Alert deliveries never run inside the tick: a :class:`~governance.monitoring.channels.Deliverer`
beside it claims due deliveries and sends them on a bounded thread pool, so a slow or dead channel
delays only its own delivery, never the other monitors' windows.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from typing import Any

from governance.db import Database, utcnow
from governance.monitoring import channels
from governance.monitoring import service as monitoring
from governance.monitoring.schedule import Window
from governance.storage import StorageRoot
from monitors.runner import RunReport
from monitors.sandbox import ModelCheckLimits
from trainer.workflows import run_window

logger = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def pool_size(processes: int) -> int:
    """``GOVERN_SCHEDULER_PROCESSES``: 0 means one process per CPU core."""
    return processes if processes > 0 else os.cpu_count() or 1


def start_pool(db: Database, processes: int) -> ProcessPoolExecutor:
    """``processes`` window-running processes, each with its own connection to ``db``'s database."""
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),  # nothing of this process's connections
        initializer=_start_process,
        initargs=(db.engine.url.render_as_string(hide_password=False), logging.getLogger().level),
    )


_PROCESS_DB: Database | None = None  # one per pool process


def _start_process(database_url: str, level: int) -> None:
    global _PROCESS_DB
    logging.basicConfig(level=level)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the scheduler process decides when to stop
    _PROCESS_DB = Database(database_url)


def _run_monitor(
    monitor_id: int, windows: list[tuple[datetime, datetime]], **options: Any
) -> list[RunReport]:
    """A pool task: one monitor's due windows, oldest first (claimed one by one in the database)."""
    assert _PROCESS_DB is not None, "the pool process was not started by start_pool"
    options["worker"] = f"{options['worker']}/{os.getpid()}"
    reports = []
    for start, end in windows:
        report = run_window(_PROCESS_DB, monitor_id=monitor_id, window=Window(start, end), **options)
        if report is not None:
            reports.append(report)
    return reports


def due_windows(db: Database, *, now: datetime) -> list[tuple[int, str, list[Window]]]:
    """Every enabled monitor with due windows: its id, name and windows, oldest first."""
    with db.transaction() as session:
        due = [
            (m.id, m.name, monitoring.pending_windows(session, monitor=m, now=now))
            for m in monitoring.list_monitors(session)
            if m.enabled
        ]
    return [(monitor_id, name, windows) for monitor_id, name, windows in due if windows]


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
    processes: int = 1,
    pool: ProcessPoolExecutor | None = None,
) -> list[RunReport]:
    """Run every due window of every enabled monitor once; alert deliveries go out beside it.

    With ``processes`` above one (or a long-lived ``pool``, see :func:`start_pool`) the windows
    run in a process pool; with one they run here, in order.

    With a long-lived ``deliverer`` (``serve``) the tick only wakes it after each run. Without one
    the tick starts its own, lets it send while the windows run, and gives the deliveries at most
    ``drain_seconds`` (by default twice the operator's channel timeout) after the last window.
    """
    worker = worker or worker_name()
    own = deliverer is None
    sender = deliverer or channels.Deliverer(db, delivery).start(poll_seconds=0.5)
    options: dict[str, Any] = {
        "worker": worker,
        "actor": actor,
        "storage_root": storage_root,
        "lease": lease,
        "model_limits": model_limits,
    }
    try:
        due = due_windows(db, now=utcnow())
        total = sum(len(windows) for _, _, windows in due)
        shown = _progress(total) if progress else None
        if pool is None and pool_size(processes) > 1 and total > 1:
            with start_pool(db, min(pool_size(processes), len(due))) as own_pool:
                reports = _in_pool(own_pool, due, options, sender, shown)
        elif pool is not None:
            reports = _in_pool(pool, due, options, sender, shown)
        else:
            reports = []
            for monitor_id, name, windows in due:
                for window in windows:
                    if shown is not None:
                        shown(f"{name}: {window.label()}")
                    report = run_window(db, monitor_id=monitor_id, window=window, **options)
                    if report is not None:
                        reports.append(report)
                        sender.wake()
        if shown is not None and total:
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


def _in_pool(
    pool: ProcessPoolExecutor,
    due: list[tuple[int, str, list[Window]]],
    options: dict[str, Any],
    sender: channels.Deliverer,
    shown: Callable[[str], None] | None,
) -> list[RunReport]:
    order = {monitor_id: i for i, (monitor_id, _, _) in enumerate(due)}
    futures: dict[Future[list[RunReport]], int] = {
        pool.submit(_run_monitor, monitor_id, [(w.start, w.end) for w in windows], **options): monitor_id
        for monitor_id, _, windows in due
    }
    done: dict[int, list[RunReport]] = {}
    for future in as_completed(futures):
        done[futures[future]] = reports = future.result()
        for report in reports:
            if shown is not None:
                shown(f"{report.monitor}: {report.window.label()}")
        if reports:
            sender.wake()
    return [r for monitor_id in sorted(done, key=order.__getitem__) for r in done[monitor_id]]


def tick_on_pool(
    db: Database, pool: ProcessPoolExecutor, *, processes: int, **options: Any
) -> tuple[list[RunReport], ProcessPoolExecutor]:
    """A :func:`tick` on the scheduler's long-lived ``pool``, and the pool for the next tick.

    A pool one of whose processes died (killed for memory, a crash in native code) refuses every
    later task, so it is replaced by ``processes`` fresh ones; the windows the dead process had
    claimed keep their ``running`` rows until their lease runs out and a later tick runs them
    again, and the windows the other processes finished are stored as usual."""
    try:
        return tick(db, pool=pool, **options), pool
    except BrokenProcessPool:
        logger.error("a window process died; starting a new pool (its windows run again later)")
        pool.shutdown(wait=False, cancel_futures=True)
        return [], start_pool(db, processes)


def _progress(total: int) -> Callable[[str], None]:
    counter: Iterator[int] = iter(range(1, total + 1))

    def show(what: str) -> None:
        sys.stderr.write(f"\r[{next(counter, total)}/{total}] {what} ")
        sys.stderr.flush()

    return show


def serve(
    db: Database,
    *,
    interval_seconds: float,
    actor: str,
    storage_root: StorageRoot,
    delivery: channels.DeliveryConfig | None = None,
    lease: timedelta = monitoring.DEFAULT_LEASE,
    model_limits: ModelCheckLimits | None = None,
    processes: int = 1,
) -> None:
    """Tick every ``interval_seconds`` until SIGINT/SIGTERM; deliveries go out beside the ticks
    (and with ``processes`` above one, windows run in a pool that lives as long as the scheduler)."""
    from apscheduler.schedulers.blocking import BlockingScheduler

    scheduler = BlockingScheduler(timezone="UTC")
    worker = worker_name()
    deliverer = channels.Deliverer(db, delivery).start()
    pool = start_pool(db, pool_size(processes)) if pool_size(processes) > 1 else None

    def job() -> None:
        nonlocal pool
        options: dict[str, Any] = {
            "actor": actor,
            "storage_root": storage_root,
            "worker": worker,
            "lease": lease,
            "progress": sys.stderr.isatty(),
            "deliverer": deliverer,
            "model_limits": model_limits,
        }
        if pool is None:
            reports = tick(db, **options)
        else:
            reports, pool = tick_on_pool(db, pool, processes=pool_size(processes), **options)
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
        if pool is not None:
            pool.shutdown(cancel_futures=True)
