"""The promotion policy (read by viewers, set by admins) and changes of a version's risk tier."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field

from dashboards.api.deps import Admin, Approver, Editor, PolicyDep, SessionDep, Viewer
from governance.mlmodel import service as model_service
from governance.policy import risk
from governance.policy import service as policy_service
from governance.policy.document import Tiers, from_data

router = APIRouter(tags=["policy"])
ChangeId = Annotated[int, Path(ge=1, le=2**31 - 1)]


class PolicySet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiers: Tiers
    comment: str | None = Field(default=None, max_length=10_000)


class RiskChangeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tier: Literal["low", "medium", "high"]
    reason: str = Field(min_length=1, max_length=10_000)


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    comment: str | None = Field(default=None, max_length=10_000)


@router.get("/policy")
def policy_show(session: SessionDep, user: Viewer, seed: PolicyDep) -> dict[str, Any]:
    """The promotion policy in force: what production requires of each risk tier."""
    return policy_service.current(session, seed=seed.to_document()).to_dict()


@router.get("/policy/versions")
def policy_versions(session: SessionDep, user: Viewer, seed: PolicyDep) -> list[dict[str, Any]]:
    policy_service.current(session, seed=seed.to_document())
    return [v.to_dict() for v in policy_service.history(session)]


@router.put("/policy", status_code=201)
def policy_set(data: PolicySet, session: SessionDep, user: Admin) -> dict[str, Any]:
    """Store a new version of the promotion policy (admins only)."""
    document = from_data({"tiers": data.tiers.model_dump(mode="json")})
    return policy_service.set_policy(session, document=document, actor=user, comment=data.comment).to_dict()


@router.post("/models/{name}/{version}/risk", status_code=201)
def risk_change(
    name: str, version: str, data: RiskChangeCreate, session: SessionDep, user: Editor
) -> dict[str, Any]:
    """Raise the version's risk tier (applied now) or ask to lower it (pending an approver)."""
    mv = model_service.get_version(session, name=name, version=version)
    return risk.change_tier(session, mv=mv, tier=data.tier, reason=data.reason, actor=user.name).to_dict()


@router.get("/risk-changes")
def risk_changes(session: SessionDep, user: Viewer, status: str | None = None) -> list[dict[str, Any]]:
    return [c.to_dict() for c in risk.list_changes(session, status=status)]


@router.post("/risk-changes/{change_id}/approve")
def risk_approve(change_id: ChangeId, data: Decision, session: SessionDep, user: Approver) -> dict[str, Any]:
    return risk.decide(
        session, change_id=change_id, approver=user, approve=True, comment=data.comment
    ).to_dict()


@router.post("/risk-changes/{change_id}/reject")
def risk_reject(change_id: ChangeId, data: Decision, session: SessionDep, user: Approver) -> dict[str, Any]:
    return risk.decide(
        session, change_id=change_id, approver=user, approve=False, comment=data.comment
    ).to_dict()
