"""Compliance verdicts computed when their inputs change and stored, not walked per page view.

A version's verdict depends on its own license, intended use, dependencies, datasets and base
models (and theirs, transitively) and on the license catalog. Session events watch those rows:
after a flush, a newly registered version is marked for computing; a change to the catalog, to a
dataset version's license or personal-data fields, to an existing version's lineage or to dataset
lineage marks every stored verdict stale (such changes are rare: versions are immutable and the
catalog only grows). Before the transaction commits, the stale verdicts are deleted and the marked
ones computed and stored, so the stored verdicts commit (or roll back) with the change itself.

Readers (:func:`cached_summaries`) read stored verdicts in one query; a version with none (a
database migrated from before this table, or a verdict just invalidated) is walked once and its
verdict stored in a savepoint of the reader's transaction. The promotion gate and the compliance
endpoint still walk live (``service.check``): a decision never rests on a stored verdict.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from governance.compliance import service
from governance.compliance.models import ComplianceResult
from governance.dataset.models import DatasetLineage, DatasetVersion
from governance.db import utcnow
from governance.errors import GovernError
from governance.license.models import License
from governance.mlmodel.models import ModelDataset, ModelVersion

logger = logging.getLogger(__name__)

_MARKS = "compliance_marks"  # session.info: set of version ids to compute, or ALL
ALL = "all"
_DATASET_INPUTS = ("license_expression", "personal_data", "legal_basis", "jurisdictions", "parents")
_VERSION_INPUTS = ("license_expression", "intended_use", "dependencies", "base_model_version_id", "datasets")


@dataclass(frozen=True)
class ComplianceSummary:
    """What a list shows of a version's compliance: counts and an overall status."""

    model_version_id: int
    compliant: bool
    violations: int
    warnings: int
    obligations: int
    computed_at: datetime

    @property
    def status(self) -> str:
        """``violations``, ``warnings`` or ``ok``."""
        return "violations" if self.violations else ("warnings" if self.warnings else "ok")

    def to_dict(self) -> dict[str, Any]:
        return {
            "compliant": self.compliant,
            "status": self.status,
            "violations": self.violations,
            "warnings": self.warnings,
            "obligations": self.obligations,
            "computed_at": self.computed_at.isoformat(),
        }


def _summary(row: ComplianceResult) -> ComplianceSummary:
    return ComplianceSummary(
        row.model_version_id, row.compliant, row.violations, row.warnings, row.obligations, row.computed_at
    )


def _changed(obj: Any, names: Iterable[str]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names if name in state.attrs)


def _marks_of_flush(session: Session) -> set[int] | str:
    """What this flush makes stale: new versions' ids, or ALL."""
    new_versions = {o.id for o in session.new if isinstance(o, ModelVersion)}
    new_datasets = {o.id for o in session.new if isinstance(o, DatasetVersion)}
    marks: set[int] = set(new_versions)
    for obj in (*session.new, *session.dirty, *session.deleted):
        if isinstance(obj, License):
            return ALL
        if isinstance(obj, DatasetVersion) and obj.id not in new_datasets:
            if obj in session.deleted or _changed(obj, _DATASET_INPUTS):
                return ALL
        elif isinstance(obj, DatasetLineage) and obj.child_id not in new_datasets:
            return ALL
        elif isinstance(obj, ModelVersion) and obj.id not in new_versions:
            if obj in session.deleted or _changed(obj, _VERSION_INPUTS):
                return ALL
        elif isinstance(obj, ModelDataset):
            if obj.model_version_id in new_versions:
                continue
            return ALL
    return marks


def _after_flush(session: Session, _context: Any) -> None:
    found = _marks_of_flush(session)
    current = session.info.get(_MARKS)
    if isinstance(found, str) or current == ALL:
        session.info[_MARKS] = ALL
    elif found:
        session.info[_MARKS] = set(current or ()) | found


def _result(session: Session, mv: ModelVersion) -> ComplianceResult | None:
    try:
        report = service.check(session, mv=mv)
    except GovernError as exc:  # a broken lineage: readers walk it live and see the error there
        logger.warning("compliance of %s not stored: %s", mv.ref, exc)
        return None
    return ComplianceResult(
        model_version_id=mv.id,
        compliant=report.compliant,
        violations=len(report.violations),
        warnings=len(report.warnings),
        obligations=len(report.obligations),
        report=report.to_dict(),
        computed_at=utcnow(),
    )


def _before_commit(session: Session) -> None:
    marks = session.info.pop(_MARKS, None)
    if not marks:
        return
    if marks == ALL:
        session.execute(delete(ComplianceResult))
        refresh(session)
        return
    ids = sorted(marks)
    session.execute(delete(ComplianceResult).where(ComplianceResult.model_version_id.in_(ids)))
    versions = session.scalars(select(ModelVersion).where(ModelVersion.id.in_(ids))).all()
    session.add_all(r for r in (_result(session, mv) for mv in versions) if r is not None)
    session.flush()
    session.info.pop(_MARKS, None)  # what computing itself flushed changes nothing


def _after_rollback(session: Session) -> None:
    session.info.pop(_MARKS, None)


def install(factory: sessionmaker[Session]) -> None:
    """Keep stored verdicts in step with the writes of sessions from ``factory``."""
    from sqlalchemy import event

    event.listen(factory, "after_flush", _after_flush)
    event.listen(factory, "before_commit", _before_commit)
    event.listen(factory, "after_soft_rollback", lambda session, _previous: _after_rollback(session))


def refresh(session: Session) -> int:
    """Compute and store the verdict of every version that has none; how many were stored."""
    stored = select(ComplianceResult.model_version_id)
    versions = session.scalars(select(ModelVersion).where(ModelVersion.id.not_in(stored))).all()
    results = [r for r in (_result(session, mv) for mv in versions) if r is not None]
    session.add_all(results)
    session.flush()
    session.info.pop(_MARKS, None)
    return len(results)


_SUMMARIES = select(
    ComplianceResult.model_version_id,
    ComplianceResult.compliant,
    ComplianceResult.violations,
    ComplianceResult.warnings,
    ComplianceResult.obligations,
    ComplianceResult.computed_at,
).where(ComplianceResult.model_version_id.in_(bindparam("mv_ids", expanding=True)))


def cached_summaries(session: Session, *, mv_ids: Iterable[int]) -> dict[int, ComplianceSummary]:
    """The stored compliance summary of each version in ``mv_ids``, in one query.

    A version without a stored verdict is walked now and its verdict stored (in a savepoint, so a
    concurrent reader that stored it first costs nothing); one whose lineage cannot be walked is
    left out of the answer.
    """
    wanted = set(mv_ids)
    if not wanted:
        return {}
    rows = session.execute(_SUMMARIES, {"mv_ids": list(wanted)}).tuples()
    found = {row[0]: ComplianceSummary(*row) for row in rows}  # the summary's columns, not the report
    missing = wanted - found.keys()
    if missing:
        versions = session.scalars(select(ModelVersion).where(ModelVersion.id.in_(missing))).all()
        for mv in versions:
            result = _result(session, mv)
            if result is None:
                continue
            found[mv.id] = _summary(result)
            try:
                with session.begin_nested():
                    session.add(result)
            except IntegrityError:
                pass  # another reader stored it first: the same verdict
            session.info.pop(_MARKS, None)
    return found


def cached_summary(session: Session, *, mv: ModelVersion) -> ComplianceSummary | None:
    """The stored compliance summary of ``mv`` (see :func:`cached_summaries`)."""
    return cached_summaries(session, mv_ids=[mv.id]).get(mv.id)


def cached_report(session: Session, *, mv: ModelVersion) -> dict[str, Any] | None:
    """The stored full report of ``mv`` (``ComplianceReport.to_dict()``), walked now if none is stored."""
    cached_summaries(session, mv_ids=[mv.id])
    row = session.get(ComplianceResult, mv.id)
    return dict(row.report) if row is not None else None
