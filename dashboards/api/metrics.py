"""``/metrics``: the platform's state in the Prometheus text exposition format (version 0.0.4)."""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.approval.models import REQUEST_STATUSES, ApprovalRequest
from governance.audit.models import AuditEvent
from governance.mlmodel.models import STAGES, ModelVersion
from governance.monitoring.models import (
    ALERT_STATUSES,
    JOB_STATUSES,
    RUN_STATUSES,
    Alert,
    Monitor,
    MonitorRun,
    RetrainJob,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
FINISHED = ("ok", "warning", "breach")
REFUSAL_REASONS = ("no_credentials", "unknown_credentials", "cross_site")


class RefusalCounter:
    """Refusals of unauthenticated requests, per process: a flood of them costs no database write."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, reason: str) -> None:
        with self._lock:
            self._counts[reason] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {
                r: self._counts[r]
                for r in (*REFUSAL_REASONS, *sorted(set(self._counts) - set(REFUSAL_REASONS)))
            }


REFUSALS = RefusalCounter()


def _counts_by(session: Session, column: Any) -> dict[str, int]:
    """How many rows of ``column``'s table hold each of its values."""
    return {value: n for value, n in session.execute(select(column, func.count()).group_by(column))}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items())
    if math.isnan(value):
        text = "NaN"
    elif math.isinf(value):
        text = "+Inf" if value > 0 else "-Inf"
    else:
        text = repr(float(value))
    return f"{name}{{{inner}}} {text}" if inner else f"{name} {text}"


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        self.lines.extend(_sample(name, labels, value) for labels, value in samples)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def exposition(session: Session, page_cache: dict[str, int] | None = None) -> str:
    out = _Exposition()
    metric_samples: list[tuple[dict[str, str], float]] = []
    status_samples: list[tuple[dict[str, str], float]] = []
    time_samples: list[tuple[dict[str, str], float]] = []
    for monitor in session.scalars(select(Monitor).order_by(Monitor.id)):
        run = session.scalar(
            select(MonitorRun)
            .where(MonitorRun.monitor_id == monitor.id, MonitorRun.status.in_(FINISHED))
            .order_by(MonitorRun.window_start.desc())
            .limit(1)
        )
        if run is None:
            continue
        model = run.model_version.ref if run.model_version is not None else monitor.target
        base = {"model": model, "monitor": monitor.name, "kind": monitor.kind}
        for key, value in sorted((run.metrics or {}).items()):
            number = _number(value)
            if number is not None:
                metric_samples.append(({**base, "metric": key}, number))
        for status in RUN_STATUSES:
            status_samples.append(({**base, "status": status}, 1.0 if run.status == status else 0.0))
        time_samples.append((base, run.window_end.timestamp()))
    out.family(
        "govern_monitor_metric",
        "gauge",
        "Numeric metrics of each monitor's latest finished run.",
        metric_samples,
    )
    out.family(
        "govern_monitor_status", "gauge", "1 for the status of each monitor's latest run.", status_samples
    )
    out.family(
        "govern_monitor_last_window_end_seconds",
        "gauge",
        "End of the latest finished window (Unix time).",
        time_samples,
    )

    open_counts = session.execute(
        select(Monitor.name, ModelVersion.id, Alert.severity, Alert.status, func.count(Alert.id))
        .join(Monitor, Alert.monitor_id == Monitor.id)
        .join(ModelVersion, Alert.model_version_id == ModelVersion.id)
        .where(Alert.status.in_(("open", "acknowledged")))
        .group_by(Monitor.name, ModelVersion.id, Alert.severity, Alert.status)
    ).all()
    refs = {mv.id: mv.ref for mv in session.scalars(select(ModelVersion))}
    out.family(
        "govern_alerts_active",
        "gauge",
        "Alerts not yet resolved, by model, monitor, severity and status.",
        (
            ({"model": refs[mv_id], "monitor": name, "severity": severity, "status": status}, float(count))
            for name, mv_id, severity, status, count in open_counts
        ),
    )
    for family, help_text, column, key, states in (
        ("govern_alerts", "Alerts by status.", Alert.status, "status", ALERT_STATUSES),
        ("govern_retrain_jobs", "Retrain jobs by status.", RetrainJob.status, "status", JOB_STATUSES),
        ("govern_approval_requests", "Approval requests by status.", ApprovalRequest.status, "status",
         REQUEST_STATUSES),
        ("govern_model_versions", "Model versions by stage.", ModelVersion.stage, "stage", STAGES),
    ):  # fmt: skip
        counts = _counts_by(session, column)
        out.family(family, "gauge", help_text, (({key: s}, float(counts.get(s, 0))) for s in states))
    events = session.scalar(select(func.count(AuditEvent.id))) or 0
    out.family("govern_audit_events", "gauge", "Events in the audit log.", [({}, float(events))])
    out.family(
        "govern_refused_requests_total",
        "counter",
        "Requests refused without an authenticated user (counted here, not audited), by reason.",
        (({"reason": r}, float(n)) for r, n in REFUSALS.snapshot().items()),
    )
    if page_cache is not None:
        out.family(
            "govern_page_cache_responses_total",
            "counter",
            "Inventory and model-list responses of this process: served from the page cache (hit), "
            "built and kept (kept), built for one caller only (not_kept).",
            (({"result": r}, float(n)) for r, n in page_cache.items()),
        )
    return out.text()
