"""Risk tiers assessed from the registry's facts, not declared: rules over the intended purpose
and the personal data a version learned from; a raise applies at once, a lowering needs approval.

Rules (the highest wins; a declared tier can only raise the result):

- an intended purpose that the EU AI Act treats as high-risk (Annex III uses, and medical devices
  under Art. 6(1) with Annex I) → ``high``;
- a dataset in the version's lineage (its own datasets, what they derive from, its base models'
  datasets) holding ``sensitive`` personal data (GDPR Art. 9 special categories) → at least ``medium``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.auth.models import User
from governance.dataset.models import DatasetVersion
from governance.db import utcnow
from governance.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from governance.mlmodel.models import RISK_TIERS, ModelVersion
from governance.policy.models import RiskChange

# Why each purpose is high-risk, cited in the reason shown with the tier.
HIGH_RISK_PURPOSES = {
    "medical": "Art. 6(1) and Annex I: medical devices (MDR/IVDR)",
    "biometric": "Annex III point 1: biometrics",
    "critical_infrastructure": "Annex III point 2: critical infrastructure",
    "education": "Annex III point 3: education and vocational training",
    "employment": "Annex III point 4: employment and workers management",
    "credit_scoring": "Annex III point 5(b): creditworthiness and credit scoring",
    "insurance": "Annex III point 5(c): life and health insurance pricing",
    "essential_services": "Annex III point 5(a): access to essential public services",
    "law_enforcement": "Annex III point 6: law enforcement",
    "migration": "Annex III point 7: migration, asylum and border control",
    "justice": "Annex III point 8: administration of justice",
}


def rank(tier: str) -> int:
    return RISK_TIERS.index(tier)


def highest(*tiers: str) -> str:
    return max(tiers, key=rank)


@dataclass(frozen=True)
class Assessment:
    tier: str
    reasons: tuple[str, ...]

    @property
    def reason(self) -> str:
        return (
            "; ".join(self.reasons) if self.reasons else "no high-risk purpose and no sensitive data declared"
        )


def _lineage_datasets(mv: ModelVersion) -> Iterator[DatasetVersion]:
    seen: set[int] = set()
    stack = [link.dataset_version for link in mv.datasets]
    node, versions = mv.base_model, {mv.id}
    while node is not None and node.id not in versions:
        versions.add(node.id)
        stack.extend(link.dataset_version for link in node.datasets)
        node = node.base_model
    while stack:
        dv = stack.pop()
        if dv.id in seen:
            continue
        seen.add(dv.id)
        yield dv
        stack.extend(dv.parents)


def assess(mv: ModelVersion) -> Assessment:
    """The tier the rules give ``mv``, with a reason per rule that fired."""
    tier, reasons = "low", []
    purpose = mv.intended_purpose
    if purpose in HIGH_RISK_PURPOSES:
        tier = "high"
        reasons.append(
            f"intended purpose '{purpose}' is high-risk under the EU AI Act ({HIGH_RISK_PURPOSES[purpose]})"
        )
    sensitive = sorted({dv.ref for dv in _lineage_datasets(mv) if dv.personal_data == "sensitive"})
    if sensitive:
        tier = highest(tier, "medium")
        reasons.append(f"trained on sensitive personal data (GDPR Art. 9): {', '.join(sensitive)}")
    return Assessment(tier, tuple(reasons))


def apply_assessment(mv: ModelVersion, *, declared: str | None) -> Assessment:
    """Set ``mv``'s tier to the higher of the assessment and ``declared`` (a declaration only raises)."""
    found = assess(mv)
    mv.risk_assessed = found.tier
    if declared is None or rank(declared) == rank(found.tier):
        mv.risk_tier, mv.risk_reason = found.tier, found.reason
    elif rank(declared) > rank(found.tier):
        mv.risk_tier = declared
        mv.risk_reason = f"declared {declared} at registration (assessed {found.tier}: {found.reason})"
    else:
        mv.risk_tier = found.tier
        mv.risk_reason = (
            f"{found.reason} (declared {declared}, which is lower: lowering needs an approved risk change)"
        )
    return found


# -- changes of the tier ---------------------------------------------------------------------
def get_change(session: Session, *, change_id: int) -> RiskChange:
    found = session.get(RiskChange, change_id)
    if found is None:
        raise NotFound(f"risk change {change_id} does not exist")
    return found


def list_changes(session: Session, *, status: str | None = None) -> list[RiskChange]:
    query = select(RiskChange).order_by(RiskChange.id.desc())
    if status is not None:
        query = query.where(RiskChange.status == status)
    return list(session.scalars(query))


def _pending(session: Session, mv: ModelVersion) -> RiskChange | None:
    return session.scalar(
        select(RiskChange).where(RiskChange.model_version_id == mv.id, RiskChange.status == "pending")
    )


def change_tier(session: Session, *, mv: ModelVersion, tier: str, reason: str, actor: str) -> RiskChange:
    """Raise ``mv``'s tier now, or ask to lower it (applied only once another person approves)."""
    if tier not in RISK_TIERS:
        raise InvalidInput(f"risk tier '{tier}' is not one of {', '.join(RISK_TIERS)}")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("a change of risk tier needs a reason")
    if tier == mv.risk_tier:
        raise Conflict(f"{mv.ref} is already {tier} risk")
    pending = _pending(session, mv)
    if pending is not None:
        raise Conflict(f"{mv.ref} already has a pending risk change ({pending.id})")
    raising = rank(tier) > rank(mv.risk_tier)
    change = RiskChange(
        model_version=mv,
        from_tier=mv.risk_tier,
        to_tier=tier,
        reason=reason,
        status="applied" if raising else "pending",
        requested_by=actor,
    )
    session.add(change)
    if raising:
        change.decided_at = utcnow()
        mv.risk_tier = tier
        mv.risk_reason = f"raised from {change.from_tier} to {tier} by {actor}: {reason}"
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="model.risk_raise" if raising else "model.risk_lower_request",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={"change": change.id, "from": change.from_tier, "to": tier, "reason": reason},
    )
    return change


def decide(
    session: Session, *, change_id: int, approver: User, approve: bool, comment: str | None = None
) -> RiskChange:
    """Approve (apply) or reject a pending lowering; the decider is an approver other than the
    person who asked for it and the person who registered the version."""
    change = get_change(session, change_id=change_id)
    mv = change.model_version
    if change.status != "pending":
        raise Conflict(f"risk change {change_id} for {mv.ref} is {change.status}, not pending")
    if not approver.has_role("approver"):
        raise PermissionDenied(f"{approver.name} is a {approver.role} and cannot decide on risk changes")
    if approver.name in (change.requested_by, mv.registered_by):
        raise PermissionDenied(
            f"{approver.name} asked for or registered {mv.ref} and so cannot decide on its risk change"
        )
    change.status = "applied" if approve else "rejected"
    change.decided_by, change.decided_at, change.decision_comment = approver.name, utcnow(), comment
    if approve:
        mv.risk_tier = change.to_tier
        mv.risk_reason = (
            f"lowered from {change.from_tier} to {change.to_tier} (assessed {mv.risk_assessed or '-'}), "
            f"asked by {change.requested_by}, approved by {approver.name}: {change.reason}"
        )
    session.flush()
    audit_service.record(
        session,
        actor=approver.name,
        action="model.risk_lower_approve" if approve else "model.risk_lower_reject",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={"change": change.id, "from": change.from_tier, "to": change.to_tier, "comment": comment},
    )
    return change
