"""The promotion policy as data: what production requires of a model version, per risk tier.

A policy document is JSON::

    {"tiers": {
       "low":    {"licenses": true, "data_quality": true, "approvals": [],
                  "robustness": null, "monitors": 0},
       "medium": {"licenses": true, "data_quality": true, "approvals": ["approver"],
                  "robustness": null, "monitors": 1},
       "high":   {"licenses": true, "data_quality": true,
                  "approvals": ["risk_officer", "business_owner"],
                  "robustness": {"within_days": 30, "min_accuracy": 0.5}, "monitors": 1}}}

``approvals`` are ordered levels, each a role; ``robustness`` asks for an assessment of the version
no older than ``within_days`` whose worst-case robust accuracy is at least ``min_accuracy``;
``monitors`` is how many enabled monitors must watch the model; ``data_quality`` refuses a version
whose datasets' quality status is ``breach``. License compliance cannot be switched off.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from governance.auth.models import ROLES
from governance.errors import InvalidInput

MAX_DOCUMENT_BYTES = 64 * 1024
MAX_LEVELS = 5
TIER_NAMES = ("low", "medium", "high")


class RobustnessRequirement(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    within_days: int = Field(ge=1, le=3650, description="Newest acceptable assessment age, in days.")
    min_accuracy: float = Field(ge=0.0, le=1.0, description="Floor of worst-case robust accuracy.")

    @field_validator("min_accuracy")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


class TierRequirements(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    licenses: Literal[True] = True
    data_quality: bool = True
    approvals: tuple[str, ...] = Field(default=(), max_length=MAX_LEVELS)
    robustness: RobustnessRequirement | None = None
    monitors: int = Field(default=0, ge=0, le=100)

    @field_validator("approvals")
    @classmethod
    def _roles(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for role in value:
            if role not in ROLES or role in ("viewer", "reviewer"):  # reviewers judge records, not versions
                raise ValueError(f"approval level '{role}' is not a deciding role")
        return value


class Tiers(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    low: TierRequirements
    medium: TierRequirements
    high: TierRequirements


class PolicyDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    tiers: Tiers

    def tier(self, name: str) -> TierRequirements:
        requirements: TierRequirements = getattr(self.tiers, name)
        return requirements

    def to_data(self) -> dict[str, Any]:
        data: dict[str, Any] = self.model_dump(mode="json")
        return data


def default_document(*, medium_approvers: int = 1, high_approvers: int = 2) -> PolicyDocument:
    """The first policy version when none is stored: approver counts from the settings
    (``GOVERN_APPROVALS_MEDIUM``/``_HIGH``), as levels of the ``approver`` role."""
    return PolicyDocument(
        tiers=Tiers(
            low=TierRequirements(),
            medium=TierRequirements(approvals=("approver",) * medium_approvers, monitors=1),
            high=TierRequirements(
                approvals=("approver",) * high_approvers,
                robustness=RobustnessRequirement(within_days=30, min_accuracy=0.5),
                monitors=1,
            ),
        )
    )


def _one_error(exc: ValidationError) -> InvalidInput:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"]) or "policy"
    return InvalidInput(f"policy {where}: {error['msg']}")


def from_data(data: Any) -> PolicyDocument:
    try:
        return PolicyDocument.model_validate(data)
    except ValidationError as exc:
        raise _one_error(exc) from exc


def parse(text: str | bytes) -> PolicyDocument:
    """A policy document from JSON text; anything malformed is one sentence of InvalidInput."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise InvalidInput(f"policy document is larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"policy document is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise InvalidInput("policy document is nested too deeply") from exc
    return from_data(data)


def _refuse_constant(name: str) -> Any:
    raise InvalidInput(f"policy document contains {name}, which is not a number")


def with_tier(document: PolicyDocument, tier: str, **changes: Any) -> PolicyDocument:
    """``document`` with some requirements of ``tier`` replaced (validated again)."""
    if tier not in TIER_NAMES:
        raise InvalidInput(f"tier '{tier}' is not one of {', '.join(TIER_NAMES)}")
    data = document.to_data()
    data["tiers"][tier].update(changes)
    return from_data(data)


def describe(requirements: TierRequirements) -> list[str]:
    """One phrase per requirement, as refusals and reports name them."""
    parts = ["no compliance violation"]
    if requirements.data_quality:
        parts.append("no dataset with data-quality status breach")
    if requirements.approvals:
        parts.append("approvals in order: " + ", then ".join(requirements.approvals))
    if requirements.robustness is not None:
        r = requirements.robustness
        parts.append(f"a robustness assessment within {r.within_days} days at or above {r.min_accuracy}")
    if requirements.monitors:
        parts.append(f"at least {requirements.monitors} enabled monitor(s)")
    return parts
