"""Approvals: request, approve, reject, and the gate that promotion to production consults.

A medium- or high-risk version needs an approved request with as many distinct approvers as its
tier requires (``ApprovalPolicy``, from the settings), none of them the person who registered it.
A rejection closes the request: promotion stays refused until a new request is approved.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from governance.approval.models import Approval, ApprovalRequest
from governance.audit import service as audit_service
from governance.db import utcnow
from governance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance.mlmodel.models import ModelVersion
from governance.validation import check_id


@dataclass(frozen=True)
class ApprovalPolicy:
    """How many distinct approvers each risk tier needs before production."""

    medium: int = 1
    high: int = 2

    def required(self, risk_tier: str) -> int:
        return {"medium": self.medium, "high": self.high}.get(risk_tier, 0)


def get(session: Session, *, request_id: int) -> ApprovalRequest:
    found = session.get(ApprovalRequest, check_id(request_id, "approval request"))
    if found is None:
        raise NotFound(f"approval request {request_id} does not exist")
    return found


def latest_for(session: Session, *, mv: ModelVersion) -> ApprovalRequest | None:
    return session.scalar(
        select(ApprovalRequest)
        .where(ApprovalRequest.model_version_id == mv.id)
        .order_by(ApprovalRequest.id.desc())
        .limit(1)
    )


def _filtered(status: str | None, model_version_id: int | None) -> Select[Any]:
    query = select(ApprovalRequest)
    if status is not None:
        query = query.where(ApprovalRequest.status == status)
    if model_version_id is not None:
        query = query.where(ApprovalRequest.model_version_id == model_version_id)
    return query


def list_requests(
    session: Session,
    *,
    status: str | None = None,
    model_version_id: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[ApprovalRequest]:
    query = _filtered(status, model_version_id).order_by(ApprovalRequest.id.desc())
    return list(session.scalars(query.limit(limit).offset(offset)))


def count_requests(
    session: Session, *, status: str | None = None, model_version_id: int | None = None
) -> int:
    query = _filtered(status, model_version_id).with_only_columns(func.count(ApprovalRequest.id))
    return int(session.scalar(query) or 0)


def request(
    session: Session,
    *,
    mv: ModelVersion,
    actor: str,
    policy: ApprovalPolicy,
    comment: str | None = None,
) -> ApprovalRequest:
    """Open a request to promote ``mv`` to production."""
    required = policy.required(mv.risk_tier)
    if required == 0:
        raise InvalidInput(f"{mv.ref} is {mv.risk_tier} risk and needs no approval to go to production")
    if mv.stage == "production":
        raise Conflict(f"{mv.ref} is already in production")
    latest = latest_for(session, mv=mv)
    if latest is not None and latest.status in ("pending", "approved"):
        raise Conflict(f"{mv.ref} already has a {latest.status} approval request ({latest.id})")
    found = ApprovalRequest(
        model_version=mv, status="pending", required=required, requested_by=actor, comment=comment
    )
    session.add(found)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="approval.request",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={"request": found.id, "required": required, "risk_tier": mv.risk_tier, "comment": comment},
    )
    return found


def _decide(
    session: Session, *, request_id: int, approver: str, decision: str, comment: str | None
) -> ApprovalRequest:
    found = get(session, request_id=request_id)
    mv = found.model_version
    if found.status != "pending":
        raise Conflict(f"approval request {request_id} for {mv.ref} is {found.status}, not pending")
    if approver == mv.registered_by:
        raise PermissionDenied(f"{approver} registered {mv.ref} and so cannot approve or reject it")
    if any(a.approver == approver for a in found.approvals):
        raise Conflict(f"{approver} has already decided on approval request {request_id}")
    found.approvals.append(Approval(approver=approver, decision=decision, comment=comment, at=utcnow()))
    if decision == "reject":
        found.status, found.decided_at = "rejected", utcnow()
    elif len(found.approvers()) >= found.required:
        found.status, found.decided_at = "approved", utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=approver,
        action=f"approval.{decision}",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={"request": found.id, "comment": comment, "status": found.status},
    )
    return found


def approve(
    session: Session, *, request_id: int, approver: str, comment: str | None = None
) -> ApprovalRequest:
    return _decide(session, request_id=request_id, approver=approver, decision="approve", comment=comment)


def reject(
    session: Session, *, request_id: int, approver: str, comment: str | None = None
) -> ApprovalRequest:
    return _decide(session, request_id=request_id, approver=approver, decision="reject", comment=comment)


def cancel(session: Session, *, request_id: int, actor: str, comment: str | None = None) -> ApprovalRequest:
    """Withdraw a pending request (e.g. the version changed its mind); a new one may follow."""
    found = get(session, request_id=request_id)
    if found.status != "pending":
        raise Conflict(
            f"approval request {request_id} for {found.model_version.ref} is {found.status}, not pending"
        )
    found.status, found.decided_at = "cancelled", utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="approval.cancel",
        entity_type="model_version",
        entity_id=found.model_version.ref,
        changes={"request": found.id, "comment": comment},
    )
    return found


def check_for_production(session: Session, *, mv: ModelVersion, policy: ApprovalPolicy) -> None:
    """Raise PermissionDenied unless ``mv`` has the approvals its risk tier needs."""
    required = policy.required(mv.risk_tier)
    if required == 0:
        return
    latest = latest_for(session, mv=mv)
    if latest is None:
        raise PermissionDenied(
            f"{mv.ref} is {mv.risk_tier} risk: it needs {required} approval(s) before production; "
            f"request one with `govern approval request {mv.ref}`"
        )
    if latest.status == "cancelled":
        raise PermissionDenied(
            f"{mv.ref}'s approval request {latest.id} was cancelled: a new approval request is needed"
        )
    if latest.status == "rejected":
        raise PermissionDenied(
            f"{mv.ref} was rejected (approval request {latest.id}): a new approval request is needed"
        )
    approvers = {a for a in latest.approvers() if a != mv.registered_by}
    if latest.status != "approved" or len(approvers) < required:
        raise PermissionDenied(
            f"{mv.ref} is {mv.risk_tier} risk and has {len(approvers)} of the {required} distinct "
            f"approval(s) it needs before production (request {latest.id})"
        )
