"""Retrain jobs: requested by breaches under a policy, claimed by workers exactly once.

A claimed job carries a short lease that the worker renews while alive (``lease.Heartbeat``); a
killed worker's job is taken over once the lease runs out, and a job whose worker died on every
try is failed, so it no longer blocks the model's retraining. One model has at most one active job,
and a breach of a window that ended before the model's latest retrain was requested is covered by
that retrain: catching up a long history queues one job, not one per breached window.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.changeplan import service as changeplan_service
from governance.db import LOCK_MODEL_RETRAIN, Database, advisory_xact_lock, utcnow
from governance.errors import InvalidInput, NotFound
from governance.mlmodel.models import ModelVersion
from governance.monitoring.models import Monitor, MonitorRun, RetrainJob
from governance.validation import check_id

ACTIVE = ("queued", "running")
DEFAULT_POLICY = {"consecutive": 1, "cooldown_seconds": 3600}
JOB_LEASE = timedelta(seconds=30)  # renewed by the worker while alive
MAX_JOB_ATTEMPTS = 3


RETRAIN_POLICY_KEYS = ("consecutive", "cooldown_seconds", "adversarial", "epochs", "approve")
# The training-data rules and the epochs bound a retrain policy declares (into the model's change plan).
TRAINING_DATA_KEYS = ("window_seconds", "reference", "max_epochs")


def validate_policy(policy: dict[str, Any]) -> dict[str, Any]:
    merged = {**DEFAULT_POLICY, **policy}
    for key in ("consecutive", "cooldown_seconds"):
        if not isinstance(merged[key], int) or merged[key] < (1 if key == "consecutive" else 0):
            raise InvalidInput(
                f"retrain policy '{key}' must be a {'positive' if key == 'consecutive' else 'non-negative'} integer"
            )
    unknown = set(merged) - {*RETRAIN_POLICY_KEYS, *TRAINING_DATA_KEYS}
    if unknown:
        raise InvalidInput(f"retrain policy has unknown key(s) {', '.join(sorted(unknown))}")
    window = merged.get("window_seconds")
    if window is not None and (isinstance(window, bool) or not isinstance(window, int) or window <= 0):
        raise InvalidInput(f"the retrain window must be a positive duration, not {window!r} seconds")
    if "reference" in merged and not isinstance(merged["reference"], bool):
        raise InvalidInput("retrain policy 'reference' must be true or false")
    for key in ("epochs", "max_epochs"):
        value = merged.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise InvalidInput(f"retrain policy '{key}' must be a positive integer")
    if merged.get("epochs") and merged.get("max_epochs") and merged["epochs"] > merged["max_epochs"]:
        raise InvalidInput(
            f"retrain policy 'epochs' ({merged['epochs']}) exceeds its own bound max_epochs ({merged['max_epochs']})"
        )
    return merged


def declare_plan(session: Session, *, mv: ModelVersion, policy: dict[str, Any], actor: str) -> int:
    """Write what a retrain policy declares (training-data window and reference, epochs bound,
    adversarial training) into ``mv``'s model's change plan, the rest carried over; returns the plan
    version in force."""
    bounds: dict[str, Any] = {}
    if policy.get("max_epochs") is not None:
        bounds["max_epochs"] = policy["max_epochs"]
    if policy.get("adversarial"):
        bounds["adversarial"] = True
    data: dict[str, Any] = {key: policy[key] for key in ("window_seconds", "reference") if key in policy}
    plan = changeplan_service.declare(
        session,
        mv=mv,
        actor=actor,
        training_data=data,
        hyperparameters=bounds,
        comment=f"declared by the retrain policy of a monitor on {mv.ref}",
    )
    return plan.version


def job_key(model_version_id: int, monitor_id: int | None, window_start: Any) -> str:
    stamp = window_start.isoformat() if window_start is not None else "manual"
    return f"{model_version_id}:{monitor_id or '-'}:{stamp}"


def _consecutive_breaches(session: Session, monitor: Monitor, k: int, mv_id: int | None = None) -> bool:
    """The monitor's latest ``k`` finished runs (of version ``mv_id``, if given) all breached."""
    query = select(MonitorRun.status).where(
        MonitorRun.monitor_id == monitor.id, MonitorRun.status.in_(("ok", "warning", "breach"))
    )
    if mv_id is not None:
        query = query.where(MonitorRun.model_version_id == mv_id)
    statuses = session.scalars(query.order_by(MonitorRun.window_start.desc()).limit(k)).all()
    return len(statuses) == k and all(s == "breach" for s in statuses)


def _stuck(now: Any) -> ColumnElement[bool]:
    """A running job whose worker stopped renewing its lease on each of its tries."""
    return (
        (RetrainJob.status == "running")
        & (RetrainJob.lease_until < now)
        & (RetrainJob.attempts >= MAX_JOB_ATTEMPTS)
    )


def fail_abandoned(session: Session) -> int:
    """Fail the jobs whose workers died on every try; returns how many."""
    now = utcnow()
    query = select(RetrainJob).where(_stuck(now))
    if session.get_bind().dialect.name == "postgresql":  # two claimers never fail one job twice
        query = query.with_for_update(skip_locked=True)
    stuck = session.scalars(query).all()
    for job in stuck:
        finish(
            session,
            job_id=job.id,
            status="failed",
            result={},
            error=f"the worker stopped renewing its lease on each of {job.attempts} tries",
            actor="system:retrain",
        )
    return len(stuck)


def request_for_breach(
    session: Session, *, monitor: Monitor, run: MonitorRun, actor: str
) -> RetrainJob | None:
    """A retrain job for this breach, unless the policy, an active job or a later one says not now."""
    policy = monitor.retrain_policy or DEFAULT_POLICY
    mv_id = run.model_version_id or monitor.model_version_id  # the version the window was judged against
    if mv_id is None or not _consecutive_breaches(session, monitor, int(policy["consecutive"]), mv_id):
        return None
    model_id = monitor.model_id
    advisory_xact_lock(session, LOCK_MODEL_RETRAIN, model_id)  # check and create as one step
    fail_abandoned(session)
    of_model = select(ModelVersion.id).where(ModelVersion.model_id == model_id).scalar_subquery()
    jobs_of_model = select(RetrainJob).where(RetrainJob.model_version_id.in_(of_model))
    if session.scalar(jobs_of_model.where(RetrainJob.status.in_(ACTIVE)).limit(1)) is not None:
        return None
    # a window that ended before the model's last retrain was requested is covered by that retrain
    # (it trained on what was known then): a long catch-up of old windows queues one job, not many
    if session.scalar(jobs_of_model.where(RetrainJob.created_at >= run.window_end).limit(1)) is not None:
        return None
    cooldown = timedelta(seconds=int(policy["cooldown_seconds"]))
    recent = session.scalar(jobs_of_model.where(RetrainJob.created_at > utcnow() - cooldown).limit(1))
    if recent is not None:
        return None
    return create(
        session,
        model_version_id=mv_id,
        monitor=monitor,
        window_start=run.window_start,
        reason=f"{monitor.kind} breach on {monitor.name}: {run.details.get('summary', '')}".strip(),
        params={k: v for k, v in policy.items() if k in ("adversarial", "epochs")},
        actor=actor,
        until=run.window_end,
    )


def create(
    session: Session,
    *,
    model_version_id: int,
    monitor: Monitor | None,
    window_start: Any,
    reason: str,
    params: dict[str, Any],
    actor: str,
    until: datetime | None = None,
) -> RetrainJob | None:
    """Queue a retrain under the model's change plan in force (recorded in ``params``, with the end
    of the breaching window, ``until``, that the plan's training-data window counts back from)."""
    key = job_key(model_version_id, monitor.id if monitor else None, window_start)
    if session.scalar(select(RetrainJob).where(RetrainJob.key == key)) is not None:
        return None
    mv = session.get(ModelVersion, model_version_id)
    if mv is None:
        raise NotFound(f"model version {model_version_id} does not exist")
    if until is None:
        until = window_start + timedelta(seconds=monitor.window_seconds) if monitor else utcnow()
    plan = changeplan_service.current(session, mv=mv)
    params = {**params, "change_plan": plan.version, "until": until.isoformat() if until else None}
    job = RetrainJob(
        key=key,
        model_version_id=model_version_id,
        monitor_id=monitor.id if monitor else None,
        window_start=window_start,
        reason=reason,
        params=params,
    )
    try:
        with session.begin_nested():
            session.add(job)
            session.flush()
    except IntegrityError:  # a concurrent process created it first: the key makes it one job
        return None
    audit_service.record(
        session,
        actor=actor,
        action="retrain.request",
        entity_type="retrain_job",
        entity_id=str(job.id),
        changes={"key": key, "reason": reason},
    )
    return job


def claim(db: Database, *, worker: str, lease: timedelta = JOB_LEASE) -> int | None:
    """Claim the oldest queued job (or one whose worker died); FOR UPDATE SKIP LOCKED on PostgreSQL."""
    now = utcnow()
    with db.transaction() as session:
        fail_abandoned(session)
        claimable = (RetrainJob.status == "queued") | (
            (RetrainJob.status == "running")
            & (RetrainJob.lease_until < now)
            & (RetrainJob.attempts < MAX_JOB_ATTEMPTS)
        )
        query = select(RetrainJob.id).where(claimable).order_by(RetrainJob.id).limit(1)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job_id = session.scalar(query)
        if job_id is None:
            return None
        claimed = session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id, claimable)
            .values(
                status="running",
                claimed_by=worker,
                lease_until=now + lease,
                attempts=RetrainJob.attempts + 1,
                started_at=now,
            )
            .returning(RetrainJob.id)
        ).first()
        return int(claimed[0]) if claimed else None


def heartbeat(db: Database, *, job_id: int, worker: str, lease: timedelta = JOB_LEASE) -> None:
    """Extend a running job's lease (the trainer calls it after each epoch)."""
    renew(db, job_id=job_id, worker=worker, lease=lease)


def renew(db: Database, *, job_id: int, worker: str, lease: timedelta = JOB_LEASE) -> bool:
    """Extend a running job's lease; False when the job is no longer this worker's."""
    with db.transaction() as session:
        result = session.execute(
            update(RetrainJob)
            .where(RetrainJob.id == job_id, RetrainJob.claimed_by == worker, RetrainJob.status == "running")
            .values(lease_until=utcnow() + lease)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def finish(
    session: Session, *, job_id: int, status: str, result: dict[str, Any], error: str | None, actor: str
) -> RetrainJob:
    job = session.get(RetrainJob, job_id)
    if job is None:
        raise NotFound(f"retrain job {job_id} does not exist")
    job.status, job.result, job.error = status, result, error
    job.finished_at, job.lease_until = utcnow(), None
    audit_service.record(
        session,
        actor=actor,
        action=f"retrain.{status}",
        entity_type="retrain_job",
        entity_id=str(job.id),
        changes={"result": result, "error": error},
    )
    return job


def get(session: Session, *, job_id: int) -> RetrainJob:
    job = session.get(RetrainJob, check_id(job_id, "retrain job"))
    if job is None:
        raise NotFound(f"retrain job {job_id} does not exist")
    return job


def list_jobs(
    session: Session, *, status: str | None = None, limit: int = 100, offset: int = 0
) -> list[RetrainJob]:
    query = select(RetrainJob).order_by(RetrainJob.id.desc()).limit(limit).offset(offset)
    if status is not None:
        query = query.where(RetrainJob.status == status)
    return list(session.scalars(query))
