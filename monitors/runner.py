"""The runner's steps for one (monitor, window): load its data, evaluate its check, store the run.

The sequence (claim, heartbeat, load, evaluate, store) is ``run_window`` in
:mod:`trainer.workflows`, which the CLI, the scheduler and its process pool all run. The checks
themselves are pure functions registered in :data:`CHECKS` (see ``monitors/checks.py``). A check
that raises leaves the run in ``error`` (retried by a later tick); results are written in one
transaction together with the alert and retrain job they cause; the alert's deliveries are sent
by the caller's deliverer, apart.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from governance.data import read_frame
from governance.db import Database
from governance.errors import GovernError, InvalidInput
from governance.monitoring import service as monitoring
from governance.monitoring.models import Monitor
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from governance.monitoring.terms import Status
from governance.production import service as production
from governance.review import service as review
from governance.storage import StorageRoot
from governance.validation import parse_time
from monitors import sandbox
from monitors.checks import CHECKS as CHECKS  # the table of checks, one per monitor kind
from monitors.checks import CheckFn as CheckFn

logger = logging.getLogger(__name__)


@dataclass
class WindowData:
    """Everything a check may look at for one window; the reference is loaded on first use."""

    monitor: dict[str, Any]
    model_ref: str
    model_version_id: int
    model_path: str | Path  # the artifact's stored location
    model_sha256: str
    model_metrics: dict[str, Any]
    window: Window
    frame: pd.DataFrame
    features: list[str]
    reference_path: str | Path | None  # the reference dataset's stored location
    reference_sha256: str | None
    reference_label: str | None
    storage_root: StorageRoot
    extras: dict[str, Any] = field(default_factory=dict)
    reference_format: str | None = None  # as registered (None: from the location's suffix)

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict(self.monitor.get("thresholds") or {})

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.monitor.get("params") or {})

    @cached_property
    def reference(self) -> pd.DataFrame:
        if self.reference_path is None:
            raise InvalidInput(f"{self.model_ref} has no reference or training dataset to compare against")
        return read_frame(self.reference_path, format=self.reference_format, what="reference dataset")

    def load_model(self) -> Any:
        from trainer.modelio import load_model

        return load_model(self.model_path, expected_sha256=self.model_sha256)


def load_window(db: Database, *, monitor_id: int, window: Window, storage_root: StorageRoot) -> WindowData:
    with db.transaction() as session:
        monitor: Monitor = monitoring.get(session, ident=monitor_id)
        watched = monitoring.watched_version(session, monitor=monitor, window=window)
        if watched is None:
            raise InvalidInput(
                f"no version of {monitor.model.name} was in production in window {window.label()}"
            )
        mv = watched.version
        frame = production.read_window(session, mv=mv, start=window.start, end=window.end)
        schema = production.feature_schema(mv)
        reference = mv.reference_dataset()
        known = {"request_id", "timestamp", "prediction", "label", "latency_ms", "error", "status"}
        features = (
            list(schema)
            if schema is not None
            else [
                c for c in frame.columns if c not in known and not c.startswith(production.PROBABILITY_PREFIX)
            ]
        )
        extras: dict[str, Any] = {}
        if monitor.kind == "model_drift":
            start = _time_param(monitor, "baseline_start") or watched.since
            end = _time_param(monitor, "baseline_end") or start + timedelta(seconds=monitor.window_seconds)
            extras["baseline_frame"] = production.read_window(
                session, mv=mv, start=start, end=end, with_labels=False
            )
        return WindowData(
            extras=extras,
            monitor=monitor.to_dict(),
            model_ref=mv.ref,
            model_version_id=mv.id,
            model_path=mv.artifact_location,
            model_sha256=mv.sha256,
            model_metrics=dict(mv.metrics or {}),
            window=window,
            frame=frame,
            features=features,
            reference_path=reference.location if reference is not None else None,
            reference_format=reference.format if reference is not None else None,
            reference_sha256=reference.sha256 if reference is not None else None,
            reference_label=reference.label_column if reference is not None else None,
            storage_root=storage_root,
        )


def _time_param(monitor: Monitor, name: str) -> datetime | None:
    text = monitor.params.get(name)
    return parse_time(text, f"monitor {monitor.name}'s {name}") if text else None


@dataclass(frozen=True)
class RunReport:
    run_id: int
    monitor: str
    window: Window
    status: str
    summary: str
    duration_ms: int
    model: str | None = None  # NAME@VERSION the window was judged against

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "monitor": self.monitor,
            "model": self.model,
            "window_start": self.window.start.isoformat(),
            "window_end": self.window.end.isoformat(),
            "status": self.status,
            "summary": self.summary,
            "duration_ms": self.duration_ms,
        }


def evaluate(data: WindowData, model_limits: sandbox.ModelCheckLimits | None = None) -> CheckOutcome:
    """The window's outcome: its check's (in a child process under ``model_limits`` when the check
    runs the model's code, see :mod:`monitors.sandbox`), or a warning when there is nothing (or too
    little labelled) to judge."""
    kind = str(data.monitor["kind"])
    check = CHECKS.get(kind)
    if check is None:
        raise InvalidInput(f"no check is installed for monitor kind '{kind}'")
    if data.frame.empty and kind != "model_drift":
        return CheckOutcome(
            Status.WARNING,
            {"rows": 0},
            data.thresholds,
            f"{kind.replace('_', ' ')} on {data.model_ref}: no production records in "
            f"window {data.window.label()}",
            rows=0,
        )
    return _too_few_labels(data, kind) or sandbox.run_check(kind, check, data, model_limits)


def store(
    db: Database, *, run_id: int, data: WindowData, outcome: CheckOutcome, started: float, actor: str
) -> RunReport:
    """Write the run's outcome with the alert and retrain job it causes, in one transaction."""
    duration_ms = int((time.perf_counter() - started) * 1000)
    with db.transaction() as session:
        monitoring.finish(
            session,
            run_id=run_id,
            outcome=outcome,
            duration_ms=duration_ms,
            actor=actor,
            model_version_id=data.model_version_id,
        )
        review.after_window(
            session,
            monitor=data.monitor,
            model_version_id=data.model_version_id,
            frame=data.frame,
            details=outcome.details,
            actor=actor,
        )
    name = str(data.monitor["name"])
    logger.info(
        "monitor %s: window %s -> %s in %d ms: %s",
        name,
        data.window.label(),
        outcome.status,
        duration_ms,
        outcome.summary,
    )
    return RunReport(run_id, name, data.window, outcome.status, outcome.summary, duration_ms, data.model_ref)


def store_failure(
    db: Database, *, run_id: int, name: str, window: Window, error: Exception, started: float
) -> RunReport:
    """The run failed: it is left in ``error`` (a later tick retries it), nothing half-written."""
    message = str(error) if isinstance(error, GovernError) else f"{type(error).__name__}: {error}"
    logger.error("monitor %s: window %s failed: %s", name, window.label(), message)
    monitoring.fail(db, run_id=run_id, error=message)
    return RunReport(run_id, name, window, "error", message, int((time.perf_counter() - started) * 1000))


def _too_few_labels(data: WindowData, kind: str) -> CheckOutcome | None:
    """A label-needing window with fewer labelled records than ``min_labelled`` (a share, default
    0.5) is a warning that says how many arrived, not a pass on too little evidence."""
    if kind not in monitoring.LABEL_KINDS:
        return None
    total = len(data.frame)
    labelled = int(data.frame["label"].notna().sum()) if "label" in data.frame else 0
    needed = float(data.params.get("min_labelled", 0.5))
    if total == 0 or (labelled / total >= needed and labelled > 0):
        return None
    delay = int(data.monitor.get("label_delay_seconds") or 0)
    return CheckOutcome(
        Status.WARNING,
        {"rows": total, "labelled": labelled},
        {**data.thresholds, "min_labelled": needed},
        f"{kind.replace('_', ' ')} on {data.model_ref}: {labelled} of {total} records labelled in window "
        f"{data.window.label()} (needs {needed:.0%}{f', waited {delay}s for labels' if delay else ''}); "
        "not evaluated",
        rows=total,
    )


def now_window(monitor: Monitor, at: datetime) -> Window:
    return Window(at - timedelta(seconds=monitor.window_seconds), at)
