"""A model's predetermined change plan (EU AI Act Annex IV point 2(f)) and each retrain's check.

The plan says, before any retrain happens, what a retrain of the model may change and how: its
training data (labelled production records within ``window_seconds`` before the end of the
breaching window, all of them when ``None``, plus the reference dataset or not), the bounds of its
hyperparameters (at most ``max_epochs`` epochs, adversarial training allowed or not) and the gates
its candidate must pass with their thresholds. It is stored as data, one version per change, each
with its audit event; the newest version is in force. ``govern monitor add --retrain`` declares it
(carrying over what it does not say), a model's first retrain seeds the defaults when none exists.

Every retrain records whether it stayed inside the plan (:func:`record_check`); a candidate made
outside it (say, more epochs than the bound) needs an approved request before production, whatever
its risk tier (the promotion policy reads :func:`check_of`).
"""

from __future__ import annotations

import copy
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.changeplan.models import ChangePlan, ChangePlanCheck
from governance.db import advisory_xact_lock
from governance.errors import InvalidInput, NotFound
from governance.mlmodel.models import Model, ModelVersion

SYSTEM = "system"
LOCK_CHANGE_PLAN = 7_312_015  # advisory-lock namespace (see governance.db): a model's next plan version
MAX_EPOCHS = 200
DEFAULT_GATES: dict[str, dict[str, Any]] = {
    "champion_challenger": {"margin": 0.0, "confidence": 0.95},
    "robustness": {"epsilon": 0.05, "margin": 0.05, "confidence": 0.95},
    "consistency": {"tolerance": 1e-4},
    "licenses": {"compliant": True},
}


def default_document(*, reference_dataset: str | None) -> dict[str, Any]:
    return {
        "training_data": {"window_seconds": None, "reference": True, "reference_dataset": reference_dataset},
        "hyperparameters": {"max_epochs": MAX_EPOCHS, "adversarial": True},
        "gates": copy.deepcopy(DEFAULT_GATES),
    }


def _number(value: Any, what: str, *, low: float, high: float, integer: bool = False) -> Any:
    kinds = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not (low <= value <= high):
        raise InvalidInput(
            f"the change plan's {what} must be {'an integer' if integer else 'a number'} "
            f"between {low:g} and {high:g}, not {value!r}"
        )
    return value


def validate(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every field checked; one sentence for the first bad one."""
    data, bounds, gates = (document.get(k) for k in ("training_data", "hyperparameters", "gates"))
    if not isinstance(data, dict) or not isinstance(bounds, dict) or not isinstance(gates, dict):
        raise InvalidInput("a change plan has training_data, hyperparameters and gates objects")
    window = data.get("window_seconds")
    if window is not None:
        _number(window, "training-data window (seconds)", low=1, high=100 * 366 * 86400, integer=True)
    if not isinstance(data.get("reference"), bool):
        raise InvalidInput("the change plan's training_data.reference must be true or false")
    if data.get("reference_dataset") is not None and not isinstance(data["reference_dataset"], str):
        raise InvalidInput("the change plan's training_data.reference_dataset must be a NAME@VERSION")
    _number(bounds.get("max_epochs"), "max_epochs", low=1, high=100_000, integer=True)
    if not isinstance(bounds.get("adversarial"), bool):
        raise InvalidInput("the change plan's hyperparameters.adversarial must be true or false")
    if set(gates) != set(DEFAULT_GATES):
        raise InvalidInput(f"the change plan's gates are {', '.join(DEFAULT_GATES)}")
    cc, robust = gates["champion_challenger"], gates["robustness"]
    _number(cc.get("margin"), "champion-challenger margin", low=0, high=1)
    _number(robust.get("epsilon"), "robustness epsilon", low=0, high=1e6)
    _number(robust.get("margin"), "robustness margin", low=0, high=1)
    for gate in (cc, robust):
        _number(gate.get("confidence"), "gate confidence", low=0.5, high=0.9999)
    _number(gates["consistency"].get("tolerance"), "consistency tolerance", low=0, high=1)
    return document


# -- versions ----------------------------------------------------------------------------------
def latest(session: Session, *, model: Model) -> ChangePlan | None:
    return session.scalar(
        select(ChangePlan).where(ChangePlan.model_id == model.id).order_by(ChangePlan.version.desc()).limit(1)
    )


def get_version(session: Session, *, model: Model, version: int) -> ChangePlan:
    found = session.scalar(
        select(ChangePlan).where(ChangePlan.model_id == model.id, ChangePlan.version == version)
    )
    if found is None:
        raise NotFound(f"model {model.name} has no change plan version {version}")
    return found


def history(session: Session, *, model: Model) -> list[ChangePlan]:
    return list(
        session.scalars(
            select(ChangePlan).where(ChangePlan.model_id == model.id).order_by(ChangePlan.version)
        )
    )


def base_reference(mv: ModelVersion) -> str | None:
    """The reference dataset a retrain of ``mv`` adds: the one its own retrain added (a retrained
    version's reference is its training set, which already holds production records), else its own."""
    recorded = (mv.hyperparameters or {}).get("base_reference")
    if isinstance(recorded, str):
        return recorded
    reference = mv.reference_dataset()
    return reference.ref if reference is not None else None


def _write(
    session: Session, *, model: Model, document: dict[str, Any], actor: str, comment: str | None
) -> ChangePlan:
    advisory_xact_lock(session, LOCK_CHANGE_PLAN, model.id)
    number = int(
        session.scalar(select(func.max(ChangePlan.version)).where(ChangePlan.model_id == model.id)) or 0
    )
    plan = ChangePlan(
        model=model, version=number + 1, document=validate(document), comment=comment, created_by=actor
    )
    session.add(plan)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="changeplan.set",
        entity_type="model",
        entity_id=model.name,
        changes={"version": plan.version, **plan.document, "comment": comment},
    )
    return plan


def current(session: Session, *, mv: ModelVersion) -> ChangePlan:
    """The plan in force for ``mv``'s model; the defaults are stored as version 1 when it has none."""
    found = latest(session, model=mv.model)
    if found is not None:
        return found
    return _write(
        session,
        model=mv.model,
        document=default_document(reference_dataset=base_reference(mv)),
        actor=SYSTEM,
        comment=f"default change plan, seeded at the first retrain of {mv.ref}",
    )


def declare(
    session: Session,
    *,
    mv: ModelVersion,
    actor: str,
    training_data: dict[str, Any] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    gates: dict[str, dict[str, Any]] | None = None,
    comment: str | None = None,
) -> ChangePlan:
    """Store the plan with these fields (the rest as in force, or the defaults) as the next version,
    unless it is already the plan in force."""
    before = latest(session, model=mv.model)
    document = copy.deepcopy(
        before.document if before is not None else default_document(reference_dataset=None)
    )
    document["training_data"].update(training_data or {})
    document["hyperparameters"].update(hyperparameters or {})
    for name, values in (gates or {}).items():
        if name not in document["gates"]:
            raise InvalidInput(
                f"the change plan has no gate {name!r}; its gates are {', '.join(DEFAULT_GATES)}"
            )
        document["gates"][name].update(values)
    if document["training_data"].get("reference_dataset") is None:
        document["training_data"]["reference_dataset"] = base_reference(mv)
    validate(document)
    if before is not None and before.document == document:
        return before
    return _write(session, model=mv.model, document=document, actor=actor, comment=comment)


# -- each retrain against it ---------------------------------------------------------------------
def deviations(document: dict[str, Any], *, epochs: int, adversarial: bool) -> list[str]:
    """How a retrain with these hyperparameters leaves the plan (empty: it stays inside).

    >>> plan = default_document(reference_dataset=None)
    >>> deviations(plan, epochs=60, adversarial=False)
    []
    >>> deviations(plan, epochs=500, adversarial=False)
    ['500 epochs exceed the bound of 200']
    """
    bounds = document["hyperparameters"]
    found = []
    if epochs > int(bounds["max_epochs"]):
        found.append(f"{epochs} epochs exceed the bound of {bounds['max_epochs']}")
    if adversarial and not bounds["adversarial"]:
        found.append("adversarial training is not in the plan")
    return found


def record_check(
    session: Session,
    *,
    mv: ModelVersion,
    plan: ChangePlan,
    found: list[str],
    job_id: int | None,
    actor: str,
) -> ChangePlanCheck:
    """Record whether the retrain that made ``mv`` stayed inside ``plan``, with its audit event."""
    check = ChangePlanCheck(
        model_version=mv, retrain_job_id=job_id, plan_version=plan.version, within=not found, deviations=found
    )
    session.add(check)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="changeplan.check",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={
            "plan_version": plan.version,
            "within": check.within,
            "deviations": found,
            "retrain_job": job_id,
        },
    )
    return check


def check_of(session: Session, *, mv: ModelVersion) -> ChangePlanCheck | None:
    return session.scalar(select(ChangePlanCheck).where(ChangePlanCheck.model_version_id == mv.id))


def checks(session: Session, *, model: Model) -> list[ChangePlanCheck]:
    return list(
        session.scalars(
            select(ChangePlanCheck)
            .join(ModelVersion, ChangePlanCheck.model_version_id == ModelVersion.id)
            .where(ModelVersion.model_id == model.id)
            .order_by(ChangePlanCheck.id)
        )
    )
