"""Ordered approval levels: each level of a request is a role, decided in order by distinct people.

The levels come from the promotion policy when the request is opened; an approval counts for the
next open level only when the approver's role grants that level's role.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.approval.models import ApprovalRequest
from governance.auth.models import User
from governance.errors import PermissionDenied


def _user(session: Session, name: str) -> User:
    user = session.scalar(select(User).where(User.name == name))
    if user is None or user.disabled_at is not None:
        raise PermissionDenied(f"{name} is not an active user and so cannot decide on approval requests")
    return user


def next_level(session: Session, *, request: ApprovalRequest, approver: str) -> tuple[int, str]:
    """The 1-based level ``approver`` approves next, and their role; refused when their role does
    not grant that level's role."""
    roles = request.level_roles()
    level = len(request.approvers()) + 1
    needed = roles[min(level, len(roles)) - 1]
    user = _user(session, approver)
    if not user.has_role(needed):
        raise PermissionDenied(
            f"approval request {request.id} is at level {level} of {len(roles)}, which needs a {needed}; "
            f"{approver} is a {user.role}"
        )
    return level, user.role


def may_reject(session: Session, *, request: ApprovalRequest, rejecter: str) -> str:
    """A rejection comes from someone whose role grants one of the request's levels; their role."""
    user = _user(session, rejecter)
    if not any(user.has_role(role) for role in request.level_roles()):
        raise PermissionDenied(
            f"{rejecter} is a {user.role} and approval request {request.id} is decided by "
            + ", ".join(dict.fromkeys(request.level_roles()))
        )
    return user.role
