"""Moving a model version between stages, behind the promotion policy that guards production.

Manual promotions (CLI, API) and the retrain worker's promotions call :func:`promote`, so both pass
the same policy; :func:`verdict` lets the worker ask first without writing anything.
:func:`stage_changes` turns the transitions into plain data that the entry points hand, once their
transaction has committed, to whatever mirrors the stages elsewhere (MLflow's aliases, in
``trainer.tracking``), so this core imports nothing of the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from governance.approval.service import ApprovalPolicy
from governance.audit import service as audit_service
from governance.auth import principal as principals
from governance.auth.principal import SYSTEM, Principal
from governance.errors import PermissionDenied
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion, StageTransition
from governance.monitoring import alerts as alert_service
from governance.policy import service as policy_service
from governance.policy.service import Verdict


@dataclass(frozen=True)
class StageChange:
    """A committed stage change, as the mirrors of the registry need it."""

    model: str
    version: str
    stage: str
    mlflow_run_id: str | None


def stage_changes(transitions: list[StageTransition]) -> list[StageChange]:
    return [
        StageChange(
            t.model_version.model.name, t.model_version.version, t.to_stage, t.model_version.mlflow_run_id
        )
        for t in transitions
    ]


def verdict(
    session: Session, *, mv: ModelVersion, approvals: ApprovalPolicy | None = None, actor: str | None = None
) -> Verdict:
    """What the policy in force says of ``mv`` going to production (``approvals`` seeds a first
    policy version when none is stored)."""
    policy = policy_service.current(session, seed=(approvals or ApprovalPolicy()).to_document())
    return policy_service.evaluate(session, mv=mv, policy=policy, actor=actor)


def promote(
    session: Session,
    *,
    mv: ModelVersion,
    stage: str,
    principal: Principal,
    reason: str | None = None,
    approvals: ApprovalPolicy | None = None,
) -> list[StageTransition]:
    """Move ``mv`` to ``stage``; production is refused unless every requirement of the promotion
    policy for ``mv``'s risk tier is met, and the refusal names each one that is not.

    Production also needs a verified editor (a system actor, the worker, passes the same policy)."""
    if stage == "production" and principal.via != SYSTEM:
        principal.require("editor", f"promote {mv.ref} to production")
    if stage == "production" and principal.via == SYSTEM and mv.registered_by != principal.name:
        # the worker promotes the candidate its retrain job made, never a version a person registered
        raise PermissionDenied(f"{principal.name} did not make {mv.ref} and may not promote it to production")
    principals.bind(session, principal)
    actor = principal.name
    passed: Verdict | None = None
    if stage == "production":
        # Recorded with the promotion; a refusal rolls the whole transaction back, audit events included.
        passed = verdict(session, mv=mv, approvals=approvals, actor=actor)
        passed.raise_if_unmet()
    transitions = model_service.set_stage(session, mv=mv, stage=stage, actor=actor, reason=reason)
    if stage == "production":  # the alerts on the version it replaced are over
        alert_service.resolve_replaced(
            session, new=mv, replaced=[t.model_version for t in transitions[:-1]], actor=actor
        )
    if passed is not None:
        transitions[-1].policy_version = passed.policy_version
        audit_service.record(
            session,
            actor=actor,
            action="policy.pass",
            entity_type="model_version",
            entity_id=mv.ref,
            changes=passed.to_dict(),
        )
        session.flush()
    return transitions
