"""The promotion policy in force (stored, versioned) and its verdict on a model version.

The newest stored version is the policy; when none is stored yet, the first one is written from
the seed the entry point passes (the ``GOVERN_APPROVALS_*`` settings). Every promotion to
production, manual or by the retrain worker, is judged by :func:`evaluate`, and a refusal names
every requirement that is not met.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from governance.approval.models import ApprovalRequest
from governance.audit import service as audit_service
from governance.auth.models import User
from governance.changeplan import service as changeplan_service
from governance.changeplan.models import ChangePlanCheck
from governance.compliance import service as compliance_service
from governance.compliance.service import format_path
from governance.db import advisory_xact_lock, utcnow
from governance.errors import ComplianceViolation, InvalidInput, NotFound, PermissionDenied
from governance.mlmodel.models import ModelVersion
from governance.monitoring.models import Monitor, MonitorRun
from governance.policy.document import PolicyDocument, TierRequirements, default_document, from_data
from governance.policy.models import PolicyVersion, RobustnessRecord

SYSTEM = "system"
LOCK_POLICY_SEED = 7_312_007  # advisory-lock namespace (see governance.db): seeding the first version


# -- versions ----------------------------------------------------------------------------------
def latest(session: Session) -> PolicyVersion | None:
    return session.scalar(select(PolicyVersion).order_by(PolicyVersion.version.desc()).limit(1))


def get_version(session: Session, *, version: int) -> PolicyVersion:
    found = session.scalar(select(PolicyVersion).where(PolicyVersion.version == version))
    if found is None:
        raise NotFound(f"promotion policy version {version} does not exist")
    return found


def history(session: Session) -> list[PolicyVersion]:
    return list(session.scalars(select(PolicyVersion).order_by(PolicyVersion.version)))


def document_of(version: PolicyVersion) -> PolicyDocument:
    return from_data(version.document)


def in_force(session: Session, *, seed: PolicyDocument) -> PolicyDocument:
    """The policy in force, for reading only: the latest stored version, else ``seed`` (what
    :func:`current` would store first), without writing it; pages that only show the policy's
    consequences call this, so loading them never writes."""
    found = latest(session)
    return document_of(found) if found is not None else seed


def _write(session: Session, *, document: PolicyDocument, actor: str, comment: str | None) -> PolicyVersion:
    number = int(session.scalar(select(func.max(PolicyVersion.version))) or 0) + 1
    found = PolicyVersion(version=number, document=document.to_data(), comment=comment, created_by=actor)
    session.add(found)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="policy.set",
        entity_type="promotion_policy",
        entity_id=f"v{number}",
        changes={"version": number, "tiers": found.document["tiers"], "comment": comment},
    )
    return found


def current(session: Session, *, seed: PolicyDocument | None = None) -> PolicyVersion:
    """The policy in force; the first call on an empty registry stores ``seed`` as version 1."""
    found = latest(session)
    if found is not None:
        return found
    # Seeding is rare (once per registry): PostgreSQL serialises it with an advisory lock; on SQLite
    # (one writer) the loser of a race fails on the unique version, undoes its attempt (savepoint)
    # and reads the winner's: the first page loads of a new registry all answer.
    advisory_xact_lock(session, LOCK_POLICY_SEED, 1)
    found = latest(session)
    if found is not None:
        return found
    try:
        with session.begin_nested():
            return _write(
                session,
                document=seed or default_document(),
                actor=SYSTEM,
                comment="first version, seeded from GOVERN_APPROVALS_MEDIUM and GOVERN_APPROVALS_HIGH",
            )
    except IntegrityError:
        found = latest(session)
        if found is None:
            raise
        return found


def set_policy(
    session: Session, *, document: PolicyDocument, actor: User, comment: str | None = None
) -> PolicyVersion:
    """Store ``document`` as the next version; an admin action."""
    if not actor.has_role("admin"):
        raise PermissionDenied(f"{actor.name} is a {actor.role}: setting the promotion policy needs an admin")
    if comment is not None and len(comment) > 10_000:
        raise InvalidInput("the comment is longer than 10000 characters")
    before = latest(session)
    if before is not None and document_of(before) == document:
        raise InvalidInput(f"the promotion policy is already this (version {before.version})")
    return _write(session, document=document, actor=actor.name, comment=comment)


# -- the verdict -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Requirement:
    name: str
    met: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "met": self.met, "detail": self.detail}


@dataclass(frozen=True)
class Verdict:
    model: str
    tier: str
    policy_version: int
    requirements: tuple[Requirement, ...] = field(default_factory=tuple)

    @property
    def unmet(self) -> list[Requirement]:
        return [r for r in self.requirements if not r.met]

    @property
    def ok(self) -> bool:
        return not self.unmet

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "risk_tier": self.tier,
            "policy_version": self.policy_version,
            "ok": self.ok,
            "requirements": [r.to_dict() for r in self.requirements],
        }

    def refusal(self) -> str:
        return (
            f"{self.model} cannot go to production under promotion policy version {self.policy_version} "
            f"({self.tier} risk): " + "; ".join(r.detail for r in self.unmet)
        )

    def raise_if_unmet(self) -> None:
        if self.ok:
            return
        if any(r.name == "compliance" for r in self.unmet):
            raise ComplianceViolation(self.refusal())
        raise PermissionDenied(self.refusal())


def _compliance(session: Session, mv: ModelVersion, actor: str | None) -> Requirement:
    report = compliance_service.check(session, mv=mv, actor=actor)
    if not report.violations:
        return Requirement("compliance", True, "no compliance violation")
    first = report.violations[0]
    return Requirement(
        "compliance",
        False,
        f"{len(report.violations)} compliance violation(s), first: {first.message} ({format_path(first.path)})",
    )


def _data_quality(mv: ModelVersion) -> Requirement:
    breached = []
    for link in mv.datasets:
        report = link.dataset_version.quality_report or {}
        if report.get("status") == "breach":
            breached.append(f"{link.dataset_version.ref} ({link.role}): {report.get('summary') or 'breach'}")
    if breached:
        return Requirement("data_quality", False, "data-quality status breach in " + ", ".join(breached))
    return Requirement("data_quality", True, "no dataset with data-quality status breach")


def _approvals(session: Session, mv: ModelVersion, levels: tuple[str, ...]) -> Requirement:
    wanted = ", then ".join(levels)
    latest_request = session.scalar(
        select(ApprovalRequest)
        .where(ApprovalRequest.model_version_id == mv.id)
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    )
    if latest_request is None:
        return Requirement(
            "approvals",
            False,
            f"it needs {len(levels)} approval(s) in order ({wanted}) and has no approval request; "
            f"request one with `govern approval request {mv.ref}`",
        )
    rid = latest_request.id
    if latest_request.status == "cancelled":
        return Requirement(
            "approvals", False, f"approval request {rid} was cancelled: a new approval request is needed"
        )
    if latest_request.status == "rejected":
        return Requirement(
            "approvals", False, f"approval request {rid} was rejected: a new approval request is needed"
        )
    if list(latest_request.level_roles()) != list(levels):
        return Requirement(
            "approvals",
            False,
            f"approval request {rid} asks for {', then '.join(latest_request.level_roles()) or 'nothing'} but "
            f"the policy now needs {wanted}: a new approval request is needed",
        )
    approvers = [a for a in latest_request.approvers() if a != mv.registered_by]
    if latest_request.status != "approved" or len(approvers) < len(levels):
        done = len(approvers)
        return Requirement(
            "approvals",
            False,
            f"it has {done} of the {len(levels)} approval(s) it needs ({wanted}); "
            f"request {rid} waits for {levels[min(done, len(levels) - 1)]}",
        )
    return Requirement("approvals", True, f"approved in order by {', then '.join(approvers)} (request {rid})")


def _robustness_evidence(
    session: Session, mv: ModelVersion, since: datetime
) -> list[tuple[datetime, float, str]]:
    evidence = [
        (r.at, r.robust_accuracy, f"{r.source} at ε={r.epsilon:g}")
        for r in session.scalars(
            select(RobustnessRecord).where(
                RobustnessRecord.model_version_id == mv.id, RobustnessRecord.at >= since
            )
        )
    ]
    runs = session.scalars(
        select(MonitorRun)
        .join(Monitor)
        .where(
            MonitorRun.model_version_id == mv.id,
            Monitor.kind == "robustness",
            MonitorRun.status.in_(("ok", "warning", "breach")),
            MonitorRun.finished_at >= since,
        )
    )
    for run in runs:
        value = (run.metrics or {}).get("worst_case_at_epsilon")
        if isinstance(value, (int, float)) and run.finished_at is not None:
            epsilon = (run.thresholds or {}).get("epsilon")
            evidence.append((run.finished_at, float(value), f"monitor run {run.id} at ε={epsilon}"))
    return sorted(evidence, key=lambda e: e[0])


def _robustness(
    session: Session, mv: ModelVersion, requirements: TierRequirements, now: datetime
) -> Requirement:
    wanted = requirements.robustness
    assert wanted is not None
    evidence = _robustness_evidence(session, mv, now - timedelta(days=wanted.within_days))
    if not evidence:
        return Requirement(
            "robustness",
            False,
            f"no robustness assessment of {mv.ref} in the last {wanted.within_days} days "
            f"(record one with `govern robustness MODEL_FILE DATA_FILE --label L --record {mv.ref}`)",
        )
    at, value, source = evidence[-1]
    if value < wanted.min_accuracy:
        return Requirement(
            "robustness",
            False,
            f"the newest robustness assessment ({source}, {at:%Y-%m-%d}) has worst-case robust accuracy "
            f"{value:.3f}, below the floor {wanted.min_accuracy}",
        )
    return Requirement("robustness", True, f"robust accuracy {value:.3f} ≥ {wanted.min_accuracy} ({source})")


def _monitors(session: Session, mv: ModelVersion, needed: int) -> Requirement:
    count = int(
        session.scalar(
            select(func.count(Monitor.id)).where(Monitor.model_id == mv.model_id, Monitor.enabled.is_(True))
        )
        or 0
    )
    if count < needed:
        return Requirement(
            "monitors",
            False,
            f"{count} enabled monitor(s) watch model {mv.model.name} and the policy needs {needed}",
        )
    return Requirement("monitors", True, f"{count} enabled monitor(s) watch model {mv.model.name}")


def _levels(session: Session, mv: ModelVersion, tier_levels: tuple[str, ...]) -> tuple[str, ...]:
    """The approval levels ``mv`` needs: its tier's, and at least one approver whatever the tier
    when the retrain that made it went outside the model's change plan."""
    if tier_levels:
        return tier_levels
    plan_check = changeplan_service.check_of(session, mv=mv)
    return ("approver",) if plan_check is not None and not plan_check.within else ()


def _change_plan(check: ChangePlanCheck, approvals: Requirement | None) -> Requirement:
    where = f"retrain job {check.retrain_job_id}" if check.retrain_job_id else "its retrain"
    if check.within:
        return Requirement(
            "change_plan", True, f"{where} stayed inside change plan version {check.plan_version}"
        )
    left = "; ".join(str(d) for d in check.deviations)
    met = approvals is not None and approvals.met
    return Requirement(
        "change_plan",
        met,
        f"{where} went outside change plan version {check.plan_version} ({left}): "
        + ("approved" if met else "it needs an approved request whatever the risk tier"),
    )


def evaluate(
    session: Session,
    *,
    mv: ModelVersion,
    policy: PolicyVersion,
    actor: str | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Every requirement of ``mv``'s tier under ``policy``, met or not (``actor`` records the
    compliance check as an audit event)."""
    requirements = document_of(policy).tier(mv.risk_tier)
    found = [_compliance(session, mv, actor)]
    if requirements.data_quality:
        found.append(_data_quality(mv))
    levels = _levels(session, mv, requirements.approvals)
    if levels:
        found.append(_approvals(session, mv, levels))
    plan_check = changeplan_service.check_of(session, mv=mv)
    if plan_check is not None:
        found.append(_change_plan(plan_check, found[-1] if levels else None))
    if requirements.robustness is not None:
        found.append(_robustness(session, mv, requirements, now or utcnow()))
    if requirements.monitors:
        found.append(_monitors(session, mv, requirements.monitors))
    return Verdict(mv.ref, mv.risk_tier, policy.version, tuple(found))


def levels_for(
    session: Session, *, mv: ModelVersion, seed: PolicyDocument | None = None
) -> tuple[int, tuple[str, ...]]:
    """The policy version in force and the approval levels it asks of ``mv``'s tier."""
    policy = current(session, seed=seed)
    return policy.version, _levels(session, mv, document_of(policy).tier(mv.risk_tier).approvals)


def record_robustness(
    session: Session,
    *,
    mv: ModelVersion,
    epsilon: float,
    robust_accuracy: float,
    clean_accuracy: float | None,
    source: str,
    actor: str,
) -> RobustnessRecord:
    """Keep a robustness assessment of ``mv`` as evidence for the policy."""
    for name, value in (("epsilon", epsilon), ("robust accuracy", robust_accuracy)):
        if not (0.0 <= value <= (1.0 if name != "epsilon" else 1e6)):
            raise InvalidInput(f"{name} {value} is out of range")
    if clean_accuracy is not None and not (0.0 <= clean_accuracy <= 1.0):
        clean_accuracy = None  # NaN when there was nothing to score
    found = RobustnessRecord(
        model_version=mv,
        epsilon=float(epsilon),
        robust_accuracy=float(robust_accuracy),
        clean_accuracy=clean_accuracy,
        source=source[:128],
        recorded_by=actor,
    )
    session.add(found)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="model.robustness",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={
            "epsilon": epsilon,
            "robust_accuracy": robust_accuracy,
            "clean_accuracy": clean_accuracy,
            "source": source,
        },
    )
    return found
