"""The training data a retrain job learns from, by the rules of the model's change plan.

The plan (``governance.changeplan``) names the rows: the labelled production records of every
version of the model whose timestamps fall within ``window_seconds`` before the end of the breaching
window (all of them up to that end when the plan sets no window), plus the reference dataset when
``reference`` is true. The reference is the model's own (``reference_dataset``), not a retrained
version's training set, so records of an earlier episode are counted once: training data
accumulates across episodes within the rules. Nothing labelled is left out silently: the records the
window excludes are counted in the summary, and a window with no labelled record fails the job with
one sentence.

The rows are registered as a dataset version derived from the reference (reused when the same
content is already there), and returned as frames, the production rows with their ``timestamp``,
which the split needs and the registered dataset (features and label) does not carry.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from governance import data
from governance.changeplan import service as changeplan_service
from governance.changeplan.models import ChangePlan
from governance.dataset import service as dataset_service
from governance.dataset.files import inspect_file
from governance.dataset.models import Dataset, DatasetVersion
from governance.errors import InvalidInput
from governance.mlmodel.models import ModelVersion
from governance.monitoring.models import RetrainJob
from governance.production import service as production
from governance.production.records import labelled_records
from governance.storage import Storage
from trainer.workflows import register_dataset_with_quality


@dataclass(frozen=True)
class TrainingData:
    """What a job trains on: the registered dataset version, its parts and the rule that chose them."""

    training_id: int
    reference_id: int
    label: str
    features: list[str]
    reference: pd.DataFrame  # empty when the plan adds no reference
    production: pd.DataFrame  # with ``timestamp``
    plan_version: int
    summary: dict[str, Any] = field(default_factory=dict)


def read_frame(dataset: data.Source) -> pd.DataFrame:
    """A registered dataset version, in the format the registry recorded for it (or a file)."""
    return data.read_frame(dataset, what="dataset")


def plan_of(session: Session, job: RetrainJob) -> ChangePlan:
    """The change plan the job was requested under (the one in force, for jobs older than plans)."""
    mv = job.model_version
    version = (job.params or {}).get("change_plan")
    if isinstance(version, int):
        return changeplan_service.get_version(session, model=mv.model, version=version)
    return changeplan_service.current(session, mv=mv)


def until_of(job: RetrainJob) -> datetime:
    """The end of the breaching window (a manual job: when it was requested)."""
    text = (job.params or {}).get("until")
    if isinstance(text, str):
        return datetime.fromisoformat(text)
    return job.window_start or job.created_at


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _production_records(session: Session, mv: ModelVersion, features: list[str], label: str) -> pd.DataFrame:
    """Every labelled production record of every version of ``mv``'s model, with its timestamp."""
    parts = [
        frame[[*features, "label", "timestamp"]].rename(columns={"label": label})
        for version in mv.model.versions
        for frame in labelled_records(session, mv=version, columns=[*features, "timestamp"])
    ]
    if not parts:
        return pd.DataFrame(
            {
                **{c: pd.Series(dtype="float64") for c in (*features, label)},
                "timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
            }
        )
    produced = pd.concat(parts, ignore_index=True)
    produced["timestamp"] = pd.to_datetime(produced["timestamp"], utc=True)
    return produced


def assemble(
    session: Session, *, job: RetrainJob
) -> tuple[DatasetVersion, pd.DataFrame, pd.DataFrame, list[str], str, ChangePlan, dict[str, Any]]:
    """The reference, the production rows the plan selects, the features, the label and a summary."""
    mv = job.model_version
    plan = plan_of(session, job)
    rules = plan.document["training_data"]
    base = rules.get("reference_dataset") or changeplan_service.base_reference(mv)
    if base is None:
        raise InvalidInput(f"{mv.ref} has no reference or training dataset to retrain from")
    parent = dataset_service.get_by_ref(session, base)
    label = parent.label_column
    if not label:
        raise InvalidInput(f"dataset {parent.ref} has no label column to train on")
    schema = production.feature_schema(mv)
    features = (
        list(schema) if schema is not None else [c["name"] for c in parent.columns if c["name"] != label]
    )
    reference = read_frame(parent)[[*features, label]]

    produced = _production_records(session, mv, features, label)
    until = pd.Timestamp(until_of(job)).tz_convert("UTC")
    window = rules.get("window_seconds")
    since = until - pd.Timedelta(seconds=int(window)) if window else None
    keep = produced["timestamp"] < until
    if since is not None:
        keep &= produced["timestamp"] >= since
    before = int((produced["timestamp"] < since).sum()) if since is not None else 0
    after = int((produced["timestamp"] >= until).sum())
    produced = produced.loc[keep].reset_index(drop=True)
    if since is not None and produced.empty:
        raise InvalidInput(
            f"no labelled production record of model {mv.model.name} falls within the retrain window of "
            f"{_duration(int(window))} before {until.isoformat()} (change plan version {plan.version}), "
            "so there is nothing to retrain on"
        )
    if not rules["reference"] and produced.empty:
        raise InvalidInput(
            f"model {mv.model.name} has no labelled production record before {until.isoformat()} and its change "
            f"plan (version {plan.version}) adds no reference dataset, so there is nothing to retrain on"
        )
    produced[label] = produced[label].astype(reference[label].dtype)
    if not rules["reference"]:
        reference = reference.iloc[:0]
    summary = {
        "change_plan": plan.version,
        "until": until.isoformat(),
        "window": _duration(int(window)) if window else None,
        "since": since.isoformat() if since is not None else None,
        "reference": parent.ref if rules["reference"] else None,
        "reference_rows": len(reference),
        "production_records": len(produced),
        "excluded_before_window": before,
        "excluded_after_end": after,
    }
    return parent, reference, produced, features, label, plan, summary


def register(session: Session, *, job: RetrainJob, storage: Storage, actor: str) -> TrainingData:
    """Assemble the job's training data and register it (reused when the content is already there)."""
    parent, reference, produced, features, label, plan, summary = assemble(session, job=job)
    parts = [frame for frame in (reference, produced.drop(columns="timestamp")) if len(frame)]
    rows = pd.concat(parts, ignore_index=True)
    mv = job.model_version
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "training.parquet"
        rows.to_parquet(path, index=False)
        file = inspect_file(path)
        same = session.scalar(
            select(DatasetVersion)
            .join(Dataset)
            .where(Dataset.name == parent.dataset.name, DatasetVersion.sha256 == file.sha256)
        )
        if same is None:
            rule = (
                f"within {summary['window']} before {summary['until']}"
                if summary["window"]
                else f"before {summary['until']}"
            )
            same = register_dataset_with_quality(
                session,
                storage=storage,
                file=file,
                name=parent.dataset.name,
                version=next_version([v.version for v in parent.dataset.versions]),
                license_expression=parent.license_expression,
                actor=actor,
                label_column=label,
                source=f"retrain job {job.id} of {mv.ref} under change plan version {plan.version}: "
                f"{'the reference ' + parent.ref + ' plus ' if summary['reference'] else ''}{len(produced)} labelled "
                f"production records of model {mv.model.name} {rule}",
                personal_data=parent.personal_data,
                legal_basis=parent.legal_basis,
                jurisdictions=list(parent.jurisdictions or []),
                derived_from=[parent.ref],
            ).version
    summary["training_set"] = same.ref
    return TrainingData(same.id, parent.id, label, features, reference, produced, plan.version, summary)


def next_version(existing: list[str]) -> str:
    """The next free numeric version (``max + 1``)."""
    numbers = [int(v) for v in existing if v.isdigit()]
    return str(max(numbers, default=0) + 1) if numbers or not existing else f"{len(existing) + 1}"


__all__ = ["TrainingData", "assemble", "next_version", "plan_of", "read_frame", "register"]
