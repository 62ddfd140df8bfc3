"""Monitor definitions and their runs.

The database is the source of truth for what has run: a run is *claimed* by inserting its
``(monitor, window_start)`` row (unique), so one window runs once however many schedulers race for
it. A claim carries a short lease that the running process renews while alive; a process killed
mid-run stops renewing, and the next claim takes the run over once the lease has run out, within a
minute (``attempts`` counts the tries; a window whose process died ``MAX_ATTEMPTS`` times is an
``error``). Results, the alert and the retrain
job are written together in one transaction when the run finishes, so there is never a half-written
result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from governance.audit import service as audit_service
from governance.db import Database, utcnow
from governance.errors import Conflict, InvalidInput, NotFound
from governance.mlmodel import service as model_service
from governance.mlmodel.models import Model, ModelVersion, StageTransition
from governance.monitoring import alerts as alert_service
from governance.monitoring import channels as channel_service
from governance.monitoring import jobs as job_service
from governance.monitoring.models import Monitor, MonitorRun
from governance.monitoring.schedule import Window, due_windows, parse_delay, parse_duration, trigger_for
from governance.monitoring.terms import LABEL_KINDS as LABEL_KINDS
from governance.monitoring.terms import MONITOR_KINDS, RESULT_STATUSES, Status
from governance.monitoring.terms import CheckOutcome as CheckOutcome  # the store takes this shape
from governance.refs import check_name
from governance.validation import check_id, check_text

MAX_ATTEMPTS = 3
DEFAULT_LEASE = timedelta(seconds=30)  # renewed by the running process (see ``lease.Heartbeat``)


def resolve_target(session: Session, text: str) -> tuple[Model, ModelVersion | None]:
    """``NAME@VERSION`` pins one version; a bare ``NAME`` follows the model's production version."""
    if "@" in str(text):
        mv = model_service.get_by_ref(session, text)
        return mv.model, mv
    return model_service.get_model(session, name=check_name(text, "model name")), None


def create(
    session: Session,
    *,
    name: str,
    mv: ModelVersion | None = None,
    model: Model | None = None,
    kind: str,
    schedule: str,
    window: str,
    actor: str,
    start_at: datetime | None = None,
    thresholds: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    channels: list[dict[str, Any]] | None = None,
    retrain_policy: dict[str, Any] | None = None,
    catchup: str = "coalesce",
    channel_policy: channel_service.ChannelPolicy | None = None,
    label_delay: str | int = 0,
) -> Monitor:
    """A new monitor on ``mv`` (pinned) or following ``model`` (each window judged against the
    version in production then); its channels are checked against the operator's ``channel_policy``.
    A window is evaluated once ``label_delay`` has passed after its end."""
    check_name(name, "monitor name")
    if (mv is None) == (model is None):
        raise InvalidInput("a monitor watches either a model (NAME) or one version (NAME@VERSION)")
    delay_seconds = parse_delay(label_delay, "label delay")
    if kind not in MONITOR_KINDS:
        raise InvalidInput(f"monitor kind '{kind}' is not one of {', '.join(MONITOR_KINDS)}")
    if catchup not in ("coalesce", "all"):
        raise InvalidInput(f"catch-up policy '{catchup}' is not coalesce or all")
    window_seconds = parse_duration(window, "window")
    start = start_at or utcnow()
    trigger_for(schedule, start)  # validates the schedule
    policy_ = channel_policy or channel_service.ChannelPolicy()
    if channels is not None and not isinstance(channels, list):
        raise InvalidInput("channels is a list of channel objects")
    checked = [channel_service.validate_channel(c, policy_) for c in channels or []]
    policy = job_service.validate_policy(retrain_policy) if retrain_policy else None
    if session.scalar(select(Monitor).where(Monitor.name == name)) is not None:
        raise Conflict(f"monitor '{name}' already exists")
    monitor = Monitor(
        name=name,
        model=mv.model if mv is not None else model,
        model_version=mv,
        kind=kind,
        schedule=schedule,
        window_seconds=window_seconds,
        start_at=start,
        thresholds=thresholds or {},
        params=params or {},
        channels=[c for c, _ in checked],
        retrain_policy=policy,
        catchup=catchup,
        label_delay_seconds=delay_seconds,
        created_by=actor,
    )
    session.add(monitor)
    session.flush()
    planned = mv if mv is not None else _plan_version(monitor.model)
    if policy is not None and planned is not None:  # the retrain policy's rules are the model's change plan
        job_service.declare_plan(session, mv=planned, policy=policy, actor=actor)
    if any(secret is not None for _, secret in checked):  # secrets apart; the channel keeps a fingerprint
        monitor.channels = channel_service.store_channels(session, monitor_id=monitor.id, channels=checked)
        session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="monitor.add",
        entity_type="monitor",
        entity_id=name,
        changes=monitor.to_dict(),
    )
    return monitor


def get(session: Session, *, ident: str | int) -> Monitor:
    text = str(ident)
    query = (
        select(Monitor).where(Monitor.id == check_id(int(text), "monitor"))
        if text.isascii() and text.isdigit()
        else select(Monitor).where(Monitor.name == check_text(text, "monitor name", 128))
    )
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"monitor '{ident}' does not exist")
    return found


def _plan_version(model: Model) -> ModelVersion | None:
    """The version whose datasets a followed model's change plan starts from: the one in production,
    else the newest."""
    versions = sorted(model.versions, key=lambda v: v.id)
    production = [v for v in versions if v.stage == "production"]
    candidates = production or versions
    return candidates[-1] if candidates else None


def monitors_query(*, model_version_id: int | None = None) -> Select[Monitor]:
    """Monitors in creation order, each with its model version (and model) loaded; with
    ``model_version_id``, those that watch it: pinned to it, or following its model."""
    query = select(Monitor).options(joinedload(Monitor.model_version).joinedload(ModelVersion.model))
    if model_version_id is not None:
        model_id = select(ModelVersion.model_id).where(ModelVersion.id == model_version_id).scalar_subquery()
        query = query.where(
            or_(
                Monitor.model_version_id == model_version_id,
                Monitor.model_version_id.is_(None) & (Monitor.model_id == model_id),
            )
        )
    return query.order_by(Monitor.id)


def list_monitors(session: Session, *, model_version_id: int | None = None) -> list[Monitor]:
    """All monitors, or those that watch version ``model_version_id``: pinned to it, or following its model."""
    return list(session.scalars(monitors_query(model_version_id=model_version_id)))


def runs(
    session: Session, *, monitor: Monitor, limit: int = 100, model_version_id: int | None = None
) -> list[MonitorRun]:
    """A monitor's runs, newest window first (only those that evaluated ``model_version_id``, if given)."""
    query = select(MonitorRun).where(MonitorRun.monitor_id == monitor.id)
    if model_version_id is not None:
        query = query.where(MonitorRun.model_version_id == model_version_id)
    return list(session.scalars(query.order_by(MonitorRun.window_start.desc()).limit(limit)))


@dataclass(frozen=True)
class Watched:
    """The version a window is judged against, and since when the monitor has watched it."""

    version: ModelVersion
    since: datetime


def _periods(session: Session, monitor: Monitor) -> list[Any]:
    from governance.production.routing import production_periods  # the stage history as spans

    return production_periods(model_service.history(session, name=monitor.model.name))


def watched_version(session: Session, *, monitor: Monitor, window: Window) -> Watched | None:
    """The version ``window`` is evaluated against: the pinned one, or for a monitor that follows
    its model the version that was in production for the longest part of the window (the later one
    on a tie). A window before the model's first production version is judged against that version
    (the one its records, sent to it by version, were meant for); None for a window in a gap when no
    version was in production."""
    if monitor.model_version is not None:
        return Watched(monitor.model_version, monitor.start_at)
    periods = _periods(session, monitor)
    if periods and window.end <= periods[0].start:
        return Watched(periods[0].version, monitor.start_at)
    best: tuple[timedelta, datetime, Any] | None = None
    for period in periods:
        end = min(window.end, period.end) if period.end is not None else window.end
        overlap = end - max(window.start, period.start)
        if overlap > timedelta(0) and (best is None or (overlap, period.start) >= best[:2]):
            best = (overlap, period.start, period)
    if best is None:
        return None
    period = best[2]
    first = period.version.id == periods[0].version.id  # the monitor started with it
    return Watched(period.version, monitor.start_at if first else max(monitor.start_at, period.start))


def watching_now(session: Session, *, monitor: Monitor) -> ModelVersion | None:
    """The version the monitor judges now: its pinned one, or its model's production version."""
    if monitor.model_version is not None:
        return monitor.model_version
    live = model_service.list_versions(session, name=monitor.model.name, stage="production")
    return live[0] if live else None


def superseded(session: Session, *, mv: ModelVersion) -> bool:
    """Whether ``mv`` was in production once and is no longer (a later version took over)."""
    if mv.stage == "production":
        return False
    was = session.scalar(
        select(StageTransition.id)
        .where(StageTransition.model_version_id == mv.id, StageTransition.to_stage == "production")
        .limit(1)
    )
    return was is not None


def _retryable(now: datetime) -> ColumnElement[bool]:
    """A run another process may take: its process died (lease ran out) or it failed, with tries left."""
    return (MonitorRun.attempts < MAX_ATTEMPTS) & or_(
        (MonitorRun.status == Status.RUNNING) & (MonitorRun.lease_until < now),
        MonitorRun.status == Status.ERROR,
    )


def _give_up_abandoned(session: Session, *, monitor_id: int, now: datetime) -> None:
    """A window whose process died on every try is an error, not ``running`` for ever."""
    session.execute(
        update(MonitorRun)
        .where(
            MonitorRun.monitor_id == monitor_id,
            MonitorRun.status == Status.RUNNING,
            MonitorRun.lease_until < now,
            MonitorRun.attempts >= MAX_ATTEMPTS,
        )
        .values(
            status=Status.ERROR,
            error=f"the run's process stopped renewing its lease on each of {MAX_ATTEMPTS} tries",
            lease_until=None,
            finished_at=now,
        )
        .execution_options(synchronize_session=False)
    )


def renew(db: Database, *, run_id: int, worker: str, lease: timedelta = DEFAULT_LEASE) -> bool:
    """Extend a run's lease while its process works on it; False when the run is no longer ours."""
    with db.transaction() as session:
        result = session.execute(
            update(MonitorRun)
            .where(
                MonitorRun.id == run_id, MonitorRun.claimed_by == worker, MonitorRun.status == Status.RUNNING
            )
            .values(lease_until=utcnow() + lease)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def pending_windows(session: Session, *, monitor: Monitor, now: datetime) -> list[Window]:
    """Windows whose fire time has come and that have no finished run, oldest first.

    A window is due once the monitor's label delay has passed after its end; a monitor that follows
    its model has no windows before the model's first production version."""
    last = session.scalar(
        select(func.max(MonitorRun.window_end)).where(
            MonitorRun.monitor_id == monitor.id, MonitorRun.status.in_(RESULT_STATUSES)
        )
    )
    if monitor.follows and not _periods(session, monitor):
        return []  # it starts with the model's first production version
    windows = due_windows(
        monitor.schedule,
        monitor.start_at,
        monitor.window_seconds,
        last,
        now - timedelta(seconds=monitor.label_delay_seconds),
        monitor.catchup,
    )
    _give_up_abandoned(session, monitor_id=monitor.id, now=now)
    retry = session.scalars(
        select(MonitorRun).where(MonitorRun.monitor_id == monitor.id, _retryable(now))
    ).all()
    retry_starts = {r.window_start for r in retry}
    taken = (
        set(
            session.scalars(
                select(MonitorRun.window_start).where(
                    MonitorRun.monitor_id == monitor.id,
                    MonitorRun.window_start.in_([w.start for w in windows]),
                )
            )
        )
        if windows
        else set()
    )
    windows = [w for w in windows if w.start not in taken or w.start in retry_starts]
    found = {w.start for w in windows}
    windows += [Window(r.window_start, r.window_end) for r in retry if r.window_start not in found]
    return sorted(windows, key=lambda w: w.start)


def claim(
    db: Database, *, monitor_id: int, window: Window, worker: str, lease: timedelta = DEFAULT_LEASE
) -> int | None:
    """Claim one (monitor, window) run in its own transaction; None if another process has it."""
    now = utcnow()
    try:
        with db.transaction() as session:
            run = MonitorRun(
                monitor_id=monitor_id,
                window_start=window.start,
                window_end=window.end,
                status=Status.RUNNING,
                attempts=1,
                claimed_by=worker,
                lease_until=now + lease,
                started_at=now,
            )
            session.add(run)
            session.flush()
            return run.id
    except IntegrityError:
        pass
    with db.transaction() as session:
        result = session.execute(
            update(MonitorRun)
            .where(
                MonitorRun.monitor_id == monitor_id,
                MonitorRun.window_start == window.start,
                _retryable(now),
            )
            .values(
                status=Status.RUNNING,
                attempts=MonitorRun.attempts + 1,
                claimed_by=worker,
                lease_until=now + lease,
                started_at=now,
                error=None,
            )
            .returning(MonitorRun.id)
        )
        row = result.first()
        return int(row[0]) if row is not None else None


def finish(
    session: Session,
    *,
    run_id: int,
    outcome: CheckOutcome,
    duration_ms: int,
    actor: str,
    model_version_id: int | None = None,
) -> MonitorRun:
    """Store the result with the version it evaluated; open, update or resolve the alert; request a
    retrain if the policy says so. A window whose version is no longer in production (a later one
    took over) records its run and raises neither an alert nor a retrain."""
    if outcome.status not in RESULT_STATUSES:
        raise InvalidInput(f"monitor status '{outcome.status}' is not one of {', '.join(RESULT_STATUSES)}")
    run = session.get(MonitorRun, run_id, with_for_update=True)
    if run is None:
        raise NotFound(f"monitor run {run_id} does not exist")
    if run.status != Status.RUNNING:
        raise Conflict(f"monitor run {run_id} is already {run.status}")
    run.status = Status(outcome.status).value
    run.metrics = outcome.metrics
    run.thresholds = outcome.thresholds
    run.details = {**outcome.details, "summary": outcome.summary}
    run.rows = outcome.rows
    run.duration_ms = duration_ms
    run.finished_at = utcnow()
    run.lease_until = None
    if model_version_id is not None:
        run.model_version_id = model_version_id
    elif run.monitor.model_version_id is not None:
        run.model_version_id = run.monitor.model_version_id
    session.flush()
    monitor = run.monitor
    replaced = run.model_version is not None and superseded(session, mv=run.model_version)
    if replaced:
        assert run.model_version is not None
        run.details = {
            **run.details,
            "superseded": f"{run.model_version.ref} is no longer in production: no alert, no retrain",
        }
    if replaced:
        pass  # the version that served this window has been replaced: its alert was resolved then
    elif outcome.status == Status.BREACH:
        alert_service.raise_breach(
            session,
            monitor=monitor,
            run=run,
            summary=outcome.summary,
            severity=outcome.severity or "high",
            actor=actor,
        )
        if monitor.retrain_policy:
            job_service.request_for_breach(session, monitor=monitor, run=run, actor=actor)
    elif outcome.status == Status.OK:
        alert_service.resolve_for_monitor(session, monitor=monitor, run=run, actor=actor)
    audit_service.record(
        session,
        actor=actor,
        action="monitor.run",
        entity_type="monitor",
        entity_id=monitor.name,
        changes={
            "run": run.id,
            "model": run.model_version.ref if run.model_version is not None else None,
            "window_start": run.window_start.isoformat(),
            "status": run.status,
            "metrics": run.metrics,
        },
    )
    return run


def fail(db: Database, *, run_id: int, error: str) -> None:
    with db.transaction() as session:
        run = session.get(MonitorRun, run_id)
        if run is not None and run.status == Status.RUNNING:
            run.status = Status.ERROR
            run.error = error[:4000]
            run.lease_until = None
            run.finished_at = utcnow()
