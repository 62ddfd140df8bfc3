"""Approvals: request, approve, reject, and the gate that promotion to production consults.

A version whose tier asks for approvals under the promotion policy (``governance.policy``) needs an
approved request: its ordered levels (each a role) approved in order by distinct people, none of
them the person who registered it. A rejection closes the request: promotion stays refused until a
new request is approved. ``ApprovalPolicy`` (from the settings) only seeds the first policy version.

Deciding takes a resolved :class:`~governance.auth.principal.Principal`, not a name: approving and
rejecting need a verified user with the approver role, cancelling another's request a verified
editor; the API and the CLI both come through here, so both enforce the same roles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from governance.approval import levels as approval_levels
from governance.approval.models import Approval, ApprovalRequest
from governance.audit import service as audit_service
from governance.auth import principal as principals
from governance.auth.models import User
from governance.auth.principal import Principal
from governance.db import utcnow
from governance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance.mlmodel.models import ModelVersion
from governance.policy import service as policy_service
from governance.policy.document import PolicyDocument, default_document
from governance.validation import check_id


class ApproverCounts(Protocol):
    """What :meth:`ApprovalPolicy.of` reads: the settings, or anything carrying the same two counts."""

    @property
    def approvals_medium(self) -> int: ...

    @property
    def approvals_high(self) -> int: ...


@dataclass(frozen=True)
class ApprovalPolicy:
    """Distinct approvers per tier from the settings: the seed of the first stored policy version."""

    medium: int = 1
    high: int = 2

    @classmethod
    def of(cls, settings: ApproverCounts) -> ApprovalPolicy:
        """The policy an operator set: ``GOVERN_APPROVALS_MEDIUM`` / ``_HIGH`` (or a worker's config)."""
        return cls(medium=settings.approvals_medium, high=settings.approvals_high)

    def to_document(self) -> PolicyDocument:
        return default_document(medium_approvers=self.medium, high_approvers=self.high)


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
    """Open a request to promote ``mv`` to production, with the levels the policy in force asks."""
    policy_version, levels = policy_service.levels_for(session, mv=mv, seed=policy.to_document())
    required = len(levels)
    if required == 0:
        raise InvalidInput(f"{mv.ref} is {mv.risk_tier} risk and needs no approval to go to production")
    if mv.stage == "production":
        raise Conflict(f"{mv.ref} is already in production")
    latest = latest_for(session, mv=mv)
    # an approved request whose approvals no longer count (recorded unverified) may be asked again
    stale = latest is not None and latest.status == "approved" and len(latest.approvers()) < latest.required
    if latest is not None and latest.status in ("pending", "approved") and not stale:
        raise Conflict(f"{mv.ref} already has a {latest.status} approval request ({latest.id})")
    found = ApprovalRequest(
        model_version=mv,
        status="pending",
        required=required,
        levels=list(levels),
        policy_version=policy_version,
        requested_by=actor,
        comment=comment,
    )
    session.add(found)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="approval.request",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={
            "request": found.id,
            "required": required,
            "levels": list(levels),
            "policy_version": policy_version,
            "risk_tier": mv.risk_tier,
            "comment": comment,
        },
    )
    return found


def _decide(
    session: Session, *, request_id: int, principal: Principal, decision: str, comment: str | None
) -> ApprovalRequest:
    found = get(session, request_id=request_id)
    mv = found.model_version
    principal.require("approver", f"{decision} approval request {request_id}")
    principals.bind(session, principal)
    approver = principal.name
    if found.status != "pending":
        raise Conflict(f"approval request {request_id} for {mv.ref} is {found.status}, not pending")
    if approver == mv.registered_by:
        raise PermissionDenied(f"{approver} registered {mv.ref} and so cannot approve or reject it")
    if any(a.approver == approver for a in found.approvals):
        raise Conflict(f"{approver} has already decided on approval request {request_id}")
    if decision == "reject" and not (comment or "").strip():
        raise InvalidInput(f"rejecting approval request {request_id} needs a comment saying why")
    level: int | None = None
    if decision == "approve":
        level, role = approval_levels.next_level(session, request=found, approver=approver)
    else:
        role = approval_levels.may_reject(session, request=found, rejecter=approver)
    found.approvals.append(
        Approval(
            approver=approver,
            approver_role=principal.role,
            verification=principal.via,
            decision=decision,
            comment=comment,
            at=utcnow(),
            level=level,
            role=role,
        )
    )
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
        changes={
            "request": found.id,
            "comment": comment,
            "status": found.status,
            "level": level,
            "role": role,
        },
    )
    return found


def approve(
    session: Session, *, request_id: int, principal: Principal, comment: str | None = None
) -> ApprovalRequest:
    return _decide(session, request_id=request_id, principal=principal, decision="approve", comment=comment)


def reject(
    session: Session, *, request_id: int, principal: Principal, comment: str | None = None
) -> ApprovalRequest:
    return _decide(session, request_id=request_id, principal=principal, decision="reject", comment=comment)


def cancel(
    session: Session, *, request_id: int, principal: Principal, comment: str | None = None
) -> ApprovalRequest:
    """Withdraw a pending request (e.g. the version changed its mind); a new one may follow.

    Whoever asked may withdraw their own request; withdrawing another's needs a verified editor. A
    claimed name proves nothing about a registered user, so their requests need a key as well."""
    found = get(session, request_id=request_id)
    claimed_user = not principal.verified and session.scalar(
        select(User.id).where(User.name == found.requested_by)
    )
    if principal.name != found.requested_by or claimed_user:
        principal.require("editor", f"cancel approval request {request_id} of {found.requested_by}")
    principals.bind(session, principal)
    if found.status != "pending":
        raise Conflict(
            f"approval request {request_id} for {found.model_version.ref} is {found.status}, not pending"
        )
    found.status, found.decided_at = "cancelled", utcnow()
    session.flush()
    audit_service.record(
        session,
        actor=principal.name,
        action="approval.cancel",
        entity_type="model_version",
        entity_id=found.model_version.ref,
        changes={"request": found.id, "comment": comment},
    )
    return found
