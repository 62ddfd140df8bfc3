"""Monitor definitions, their runs (one per window), alerts and their deliveries, retrain jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.db import Base, utcnow
from governance.mlmodel.models import Model, ModelVersion
from governance.monitoring.terms import MONITOR_KINDS as MONITOR_KINDS  # the one list (terms.py)
from governance.monitoring.terms import RUN_STATUSES as RUN_STATUSES

ALERT_STATUSES = ("open", "acknowledged", "resolved")
JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


class Monitor(Base):
    __tablename__ = "monitors"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    # set when pinned to one version; None: the monitor follows the model's production version
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    schedule: Mapped[str] = mapped_column(String(128))  # "every 1h" / "every 300s" or a cron expression
    window_seconds: Mapped[int] = mapped_column()
    start_at: Mapped[datetime] = mapped_column()  # windows are [start_at + k*window, start_at + (k+1)*window)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    channels: Mapped[list[Any]] = mapped_column(default=list)
    retrain_policy: Mapped[dict[str, Any] | None] = mapped_column()
    catchup: Mapped[str] = mapped_column(String(16), default="coalesce")  # or "all"
    label_delay_seconds: Mapped[int] = mapped_column(
        default=0, server_default="0"
    )  # a window waits this long
    enabled: Mapped[bool] = mapped_column(default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship()
    model_version: Mapped[ModelVersion | None] = relationship()

    @property
    def follows(self) -> bool:
        """Whether the monitor follows its model's production version (not pinned to one)."""
        return self.model_version_id is None

    @property
    def target(self) -> str:
        """What the monitor watches: ``NAME`` when it follows the model, ``NAME@VERSION`` when pinned."""
        return self.model.name if self.model_version is None else self.model_version.ref

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "model": self.target,
            "follows": self.follows,
            "kind": self.kind,
            "schedule": self.schedule,
            "window_seconds": self.window_seconds,
            "start_at": self.start_at.isoformat(),
            "thresholds": self.thresholds,
            "params": self.params,
            "channels": self.channels,
            "retrain_policy": self.retrain_policy,
            "catchup": self.catchup,
            "label_delay_seconds": self.label_delay_seconds,
            "enabled": self.enabled,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class ChannelSecret(Base):
    """A webhook channel's HMAC secret: write-only, never serialised; the channel shows its fingerprint."""

    __tablename__ = "channel_secrets"

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id"), index=True)
    fingerprint: Mapped[str] = mapped_column(String(16))
    secret: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MonitorRun(Base):
    """One run of a monitor over one window; the unique key makes each window run once."""

    __tablename__ = "monitor_runs"
    __table_args__ = (UniqueConstraint("monitor_id", "window_start"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), index=True)
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="running", index=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    rows: Mapped[int | None] = mapped_column()
    duration_ms: Mapped[int | None] = mapped_column()
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    monitor: Mapped[Monitor] = relationship()
    model_version: Mapped[ModelVersion | None] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor.name,
            "monitor_id": self.monitor_id,
            "model": self.model_version.ref if self.model_version is not None else None,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "status": self.status,
            "metrics": self.metrics,
            "thresholds": self.thresholds,
            "details": self.details,
            "rows": self.rows,
            "duration_ms": self.duration_ms,
            "attempts": self.attempts,
            "error": self.error,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    monitor_id: Mapped[int] = mapped_column(ForeignKey("monitors.id"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="open", index=True)
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    first_run_id: Mapped[int] = mapped_column(ForeignKey("monitor_runs.id"))
    last_run_id: Mapped[int] = mapped_column(ForeignKey("monitor_runs.id"))
    window_start: Mapped[datetime] = mapped_column()
    window_end: Mapped[datetime] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    breaches: Mapped[int] = mapped_column(default=1)
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    resolved_at: Mapped[datetime | None] = mapped_column()
    resolved_by: Mapped[str | None] = mapped_column(String(128))
    resolution: Mapped[str | None] = mapped_column(Text)  # why it was resolved

    monitor: Mapped[Monitor] = relationship()
    model_version: Mapped[ModelVersion | None] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "monitor": self.monitor.name,
            "monitor_id": self.monitor_id,
            "model": self.model_version.ref if self.model_version is not None else self.monitor.target,
            "status": self.status,
            "severity": self.severity,
            "message": self.message,
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "metrics": self.metrics,
            "thresholds": self.thresholds,
            "breaches": self.breaches,
            "opened_at": self.opened_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "acknowledged_by": self.acknowledged_by,
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by": self.resolved_by,
            "resolution": self.resolution,
        }


class AlertDelivery(Base):
    """A notification of an alert through one channel; failures are kept and retried."""

    __tablename__ = "alert_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    target: Mapped[str] = mapped_column(String(512))
    event: Mapped[str] = mapped_column(String(16))  # opened / updated / resolved
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    response_code: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "alert_id": self.alert_id,
            "channel": self.channel,
            "target": self.target,
            "event": self.event,
            "status": self.status,
            "attempts": self.attempts,
            "last_error": self.last_error,
            "response_code": self.response_code,
            "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None,
        }


class RetrainJob(Base):
    __tablename__ = "retrain_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(256), unique=True)  # model version : monitor : window
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    monitor_id: Mapped[int | None] = mapped_column(ForeignKey("monitors.id"))
    window_start: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    attempts: Mapped[int] = mapped_column(default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    model_version: Mapped[ModelVersion] = relationship()
    monitor: Mapped[Monitor | None] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "key": self.key,
            "model": self.model_version.ref,
            "monitor": self.monitor.name if self.monitor else None,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "reason": self.reason,
            "status": self.status,
            "params": self.params,
            "attempts": self.attempts,
            "claimed_by": self.claimed_by,
            "result": self.result,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
