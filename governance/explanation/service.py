"""Keep and read a model version's global attributions (what the model relies on).

The attributions are computed where model code runs (``monitors.explanations``: a limited child
process for registrations, the retrain worker for its candidates); this module only checks and
stores what they found, with its audit event, and reads it back for the pages and the report.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.dataset.models import DatasetVersion
from governance.errors import InvalidInput
from governance.explanation.models import METHOD_NAMES, ModelExplanation
from governance.mlmodel.models import ModelVersion

MAX_FEATURES = 20_000  # a 3x64x64 image's pixels fit; the row stays well under a megabyte
TABULAR_FORMATS = ("csv", "parquet")
AUDITED_TOP = 10


def dataset_for(mv: ModelVersion) -> DatasetVersion | None:
    """The data a version is explained over: its reference dataset, else its training dataset
    (tabular ones: the features are their columns less the label)."""
    for role in ("reference", "train"):
        for link in mv.datasets:
            if link.role == role and link.dataset_version.format in TABULAR_FORMATS:
                return link.dataset_version
    return None


def _clean(attributions: dict[str, Any]) -> dict[str, float]:
    if not isinstance(attributions, dict) or not attributions:
        raise InvalidInput("the attributions must name at least one feature.")
    if len(attributions) > MAX_FEATURES:
        raise InvalidInput(f"{len(attributions)} attributed features are more than {MAX_FEATURES}.")
    clean: dict[str, float] = {}
    for name, value in attributions.items():
        if not isinstance(name, str) or not name or len(name) > 256:
            raise InvalidInput("every attributed feature needs a name of 1 to 256 characters.")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidInput(f"the attribution of {name!r} is not a finite number.")
        if value < 0:
            raise InvalidInput(
                f"the attribution of {name!r} is negative; global attributions are magnitudes."
            )
        clean[name] = float(value)
    return clean


def record(
    session: Session,
    *,
    mv: ModelVersion,
    attributions: dict[str, Any],
    method: str,
    n_rows: int,
    seconds: float,
    source: str,
    actor: str,
    dataset: DatasetVersion | None = None,
    baseline: str = "reference mean",
    warnings: list[str] | None = None,
) -> ModelExplanation:
    """Keep ``mv``'s global attributions (feature -> mean absolute attribution) with their audit event."""
    if method not in METHOD_NAMES:
        raise InvalidInput(f"unknown attribution method {method!r}; choose from {', '.join(METHOD_NAMES)}.")
    if isinstance(n_rows, bool) or not isinstance(n_rows, int) or n_rows < 1:
        raise InvalidInput(f"an explanation needs at least one row, got {n_rows!r}.")
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidInput(f"the time an explanation took must be a non-negative number, got {seconds!r}.")
    found = ModelExplanation(
        model_version=mv,
        dataset_version=dataset,
        method=method,
        baseline=baseline[:64],
        n_rows=n_rows,
        attributions=_clean(attributions),
        warnings=[str(w)[:500] for w in (warnings or [])][:20],
        seconds=round(float(seconds), 3),
        source=source[:128],
        recorded_by=actor,
    )
    session.add(found)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="model.explain",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={
            "method": method,
            "dataset": dataset.ref if dataset is not None else None,
            "rows": n_rows,
            "source": found.source,
            "top": {t["feature"]: t["attribution"] for t in found.top(AUDITED_TOP)},
        },
    )
    return found


def latest(session: Session, *, mv: ModelVersion) -> ModelExplanation | None:
    """The version's most recent explanation, if any was kept."""
    return session.scalar(
        select(ModelExplanation)
        .where(ModelExplanation.model_version_id == mv.id)
        .order_by(ModelExplanation.id.desc())
        .limit(1)
    )


def latest_by_version(session: Session, *, ids: list[int]) -> dict[int, ModelExplanation]:
    """The most recent explanation of each of the versions ``ids`` that has one."""
    found: dict[int, ModelExplanation] = {}
    if not ids:
        return found
    rows = session.scalars(
        select(ModelExplanation)
        .where(ModelExplanation.model_version_id.in_(ids))
        .order_by(ModelExplanation.id)
    )
    for row in rows:
        found[row.model_version_id] = row
    return found
