"""Alerts: one open alert per monitor, updated by further breaches, resolved when it passes.

An alert belongs to the monitor and to the model version whose window breached; when a new version
takes over production, the alerts on the version it replaced are resolved with that reason.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.db import LOCK_MONITOR_ALERT, advisory_xact_lock, utcnow
from governance.errors import Conflict, NotFound
from governance.mlmodel.models import ModelVersion
from governance.monitoring.models import Alert, AlertDelivery, Monitor, MonitorRun
from governance.validation import check_id

SEVERITIES = ("low", "medium", "high", "critical")
ACTIVE = ("open", "acknowledged")


def _target(channel: dict[str, Any]) -> str:
    return str(channel.get("url") or channel.get("to") or "log")


def _queue(session: Session, alert: Alert, monitor: Monitor, event: str) -> None:
    for channel in monitor.channels or [{"type": "log"}]:
        session.add(
            AlertDelivery(
                alert_id=alert.id,
                channel=channel["type"],
                target=_target(channel),
                event=event,
                next_attempt_at=utcnow(),
            )
        )


def active_for(session: Session, monitor: Monitor) -> Alert | None:
    """The monitor's open or acknowledged alert; the caller may now open or close one alone."""
    advisory_xact_lock(session, LOCK_MONITOR_ALERT, monitor.id)
    return session.scalar(
        select(Alert)
        .where(Alert.monitor_id == monitor.id, Alert.status.in_(ACTIVE))
        .order_by(Alert.id.desc())
    )


def _passed_later(session: Session, monitor: Monitor, run: MonitorRun) -> bool:
    """Whether a later window of the monitor has already passed (windows may finish out of order)."""
    later = session.scalar(
        select(MonitorRun.id)
        .where(
            MonitorRun.monitor_id == monitor.id,
            MonitorRun.status == "ok",
            MonitorRun.window_start >= run.window_end,
        )
        .limit(1)
    )
    return later is not None


def raise_breach(
    session: Session, *, monitor: Monitor, run: MonitorRun, summary: str, severity: str, actor: str
) -> Alert | None:
    """Open the monitor's alert, or update the open one; None when a later window already passed."""
    alert = active_for(session, monitor)
    now = utcnow()
    if alert is not None and alert.model_version_id not in (None, run.model_version_id):
        newer = run.model_version.ref if run.model_version is not None else "another version"
        _resolve(session, alert, actor=actor, why=f"{newer} took over production")
        alert = None
    if alert is None and _passed_later(session, monitor, run):
        return None  # a late breach: the monitor has passed since; the run keeps its status
    if alert is None:
        alert = Alert(
            monitor_id=monitor.id,
            model_version_id=run.model_version_id,
            status="open",
            severity=severity,
            message=summary,
            first_run_id=run.id,
            last_run_id=run.id,
            window_start=run.window_start,
            window_end=run.window_end,
            metrics=run.metrics,
            thresholds=run.thresholds,
            breaches=1,
            opened_at=now,
            updated_at=now,
        )
        session.add(alert)
        session.flush()
        _queue(session, alert, monitor, "opened")
        action = "alert.open"
    else:
        escalated = SEVERITIES.index(severity) > SEVERITIES.index(alert.severity)
        alert.severity = severity if escalated else alert.severity
        if run.window_end >= alert.window_end:  # the newest window speaks for the alert
            alert.message, alert.last_run_id, alert.window_end = summary, run.id, run.window_end
            alert.metrics, alert.thresholds = run.metrics, run.thresholds
        alert.window_start = min(alert.window_start, run.window_start)
        alert.updated_at = now
        alert.breaches += 1
        session.flush()
        if escalated:
            _queue(session, alert, monitor, "escalated")
        action = "alert.update"
    audit_service.record(
        session,
        actor=actor,
        action=action,
        entity_type="alert",
        entity_id=str(alert.id),
        changes={
            "monitor": monitor.name,
            "model": run.model_version.ref if run.model_version is not None else None,
            "severity": alert.severity,
            "message": summary,
            "breaches": alert.breaches,
        },
    )
    return alert


def resolve_for_monitor(session: Session, *, monitor: Monitor, run: MonitorRun, actor: str) -> Alert | None:
    alert = active_for(session, monitor)
    if alert is None or alert.window_end > run.window_start:
        return None  # none open, or it stands for a breach in a later window than this pass
    if alert.model_version_id not in (None, run.model_version_id):
        return None  # another version's pass says nothing about this one
    return _resolve(session, alert, actor=actor, why=f"monitor passed on {run.window_end.isoformat()}")


def resolve_replaced(
    session: Session, *, new: ModelVersion, replaced: list[ModelVersion], actor: str
) -> list[Alert]:
    """Resolve the active alerts on the versions ``new`` replaced in production, saying so."""
    by_id = {mv.id: mv for mv in replaced if mv.id != new.id}
    if not by_id:
        return []
    active = session.scalars(
        select(Alert)
        .where(Alert.model_version_id.in_(list(by_id)), Alert.status.in_(ACTIVE))
        .order_by(Alert.id)
    ).all()
    return [
        _resolve(
            session,
            alert,
            actor=actor,
            why=f"{new.ref} took over production from {by_id[alert.model_version_id or 0].ref}",
        )
        for alert in active
    ]


def _resolve(session: Session, alert: Alert, *, actor: str, why: str) -> Alert:
    alert.status = "resolved"
    alert.resolved_at = alert.updated_at = utcnow()
    alert.resolved_by = actor
    alert.resolution = why
    session.flush()
    _queue(session, alert, alert.monitor, "resolved")
    audit_service.record(
        session,
        actor=actor,
        action="alert.resolve",
        entity_type="alert",
        entity_id=str(alert.id),
        changes={"monitor": alert.monitor.name, "why": why},
    )
    return alert


def get(session: Session, *, alert_id: int) -> Alert:
    alert = session.get(Alert, check_id(alert_id, "alert"))
    if alert is None:
        raise NotFound(f"alert {alert_id} does not exist")
    return alert


def list_alerts(
    session: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[Alert]:
    query = select(Alert).order_by(Alert.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(Alert.status == status)
    return list(session.scalars(query))


def acknowledge(session: Session, *, alert_id: int, actor: str, comment: str | None = None) -> Alert:
    alert = get(session, alert_id=alert_id)
    if alert.status != "open":
        raise Conflict(f"alert {alert_id} is {alert.status}, not open")
    alert.status, alert.acknowledged_by, alert.updated_at = "acknowledged", actor, utcnow()
    audit_service.record(
        session,
        actor=actor,
        action="alert.ack",
        entity_type="alert",
        entity_id=str(alert.id),
        changes={"comment": comment} if comment else {},
    )
    return alert


def resolve(session: Session, *, alert_id: int, actor: str, comment: str | None = None) -> Alert:
    alert = get(session, alert_id=alert_id)
    if alert.status == "resolved":
        raise Conflict(f"alert {alert_id} is already resolved")
    return _resolve(session, alert, actor=actor, why=comment or "resolved by hand")


def due_deliveries(session: Session, *, limit: int = 100) -> list[AlertDelivery]:
    return list(
        session.scalars(
            select(AlertDelivery)
            .where(AlertDelivery.status == "pending", AlertDelivery.next_attempt_at <= utcnow())
            .order_by(AlertDelivery.id)
            .limit(limit)
        )
    )


def record_attempt(
    delivery: AlertDelivery, *, ok: bool, error: str | None, code: int | None, retry_in: float | None
) -> None:
    """One attempt's outcome; ``retry_in`` seconds until the next one (None: it has failed for good)."""
    delivery.attempts += 1
    delivery.response_code = code
    if ok:
        delivery.status, delivery.delivered_at, delivery.last_error = "delivered", utcnow(), None
        delivery.next_attempt_at = None
    elif retry_in is None:
        delivery.status, delivery.next_attempt_at, delivery.last_error = "failed", None, error
    else:
        delivery.last_error = error
        delivery.next_attempt_at = utcnow() + timedelta(seconds=retry_in)
