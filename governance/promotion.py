"""Moving a model version between stages, behind the gates that guard production."""

from __future__ import annotations

from sqlalchemy.orm import Session

from governance.approval import service as approval_service
from governance.approval.service import ApprovalPolicy
from governance.auth import principal as principals
from governance.auth.principal import SYSTEM, Principal
from governance.compliance import service as compliance_service
from governance.compliance.service import format_path
from governance.errors import ComplianceViolation, PermissionDenied
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion, StageTransition


def promote(
    session: Session,
    *,
    mv: ModelVersion,
    stage: str,
    principal: Principal,
    reason: str | None = None,
    approvals: ApprovalPolicy | None = None,
) -> list[StageTransition]:
    """Move ``mv`` to ``stage``; production is refused while the compliance check finds violations,
    and, for medium and high risk, until enough distinct approvers have approved it.

    Production also needs a verified editor (a system actor, the worker, passes the same gates)."""
    if stage == "production" and principal.via != SYSTEM:
        principal.require("editor", f"promote {mv.ref} to production")
    if stage == "production" and principal.via == SYSTEM and mv.registered_by != principal.name:
        # the worker promotes the candidate its retrain job made, never a version a person registered
        raise PermissionDenied(f"{principal.name} did not make {mv.ref} and may not promote it to production")
    principals.bind(session, principal)
    actor = principal.name
    if stage == "production":
        # Recorded with the promotion; a refusal rolls the whole transaction back, audit event included.
        report = compliance_service.check(session, mv=mv, actor=actor)
        if report.violations:
            first = report.violations[0]
            raise ComplianceViolation(
                f"{mv.ref} cannot go to production: {len(report.violations)} license violation(s), "
                f"first: {first.message} ({format_path(first.path)})"
            )
        approval_service.check_for_production(session, mv=mv, policy=approvals or ApprovalPolicy())
    return model_service.set_stage(session, mv=mv, stage=stage, actor=actor, reason=reason)
