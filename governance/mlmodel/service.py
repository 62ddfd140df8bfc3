"""Model registry: versions keyed by artifact hash, lineage, stages and their history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, bindparam, func, select
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload, selectinload

from governance.audit import service as audit_service
from governance.dataset import service as dataset_service
from governance.dataset.models import Dataset, DatasetVersion
from governance.db import utcnow
from governance.errors import Conflict, InvalidInput, NotFound
from governance.license import service as license_service
from governance.mlmodel.archives import (
    SAFE_PYTORCH_FORMATS,
    detect_format,
    inspect_archive,
    looks_like_pytorch,
)
from governance.mlmodel.models import (
    DATASET_ROLES,
    INTENDED_PURPOSES,
    INTENDED_USES,
    RISK_TIERS,
    STAGES,
    Model,
    ModelDataset,
    ModelVersion,
    StageTransition,
    version_dict,
)
from governance.policy import risk as risk_rules
from governance.refs import check_name, check_version, parse_ref
from governance.storage import LocalStorage, check_readable, sha256_file

FRAMEWORK_BY_SUFFIX = {
    ".pt": "pytorch",
    ".pth": "pytorch",
    ".pts": "pytorch",
    ".pt2": "pytorch",
    ".ptz": "pytorch",
    ".pkl": "sklearn",
    ".joblib": "sklearn",
    ".skops": "sklearn",
    ".onnx": "onnx",
}


def _sniff_framework(path: Path) -> str | None:
    """PyTorch for the archives the platform can load safely (its own, TorchScript, torch.export)."""
    return "pytorch" if detect_format(path) in SAFE_PYTORCH_FORMATS else None


# Which stage may follow which; promotion to production also needs a clean compliance check.
TRANSITIONS = {
    "candidate": {"staging", "production", "archived"},
    "staging": {"production", "archived"},
    "production": {"archived"},
    "archived": {"staging", "production"},
}


@dataclass(frozen=True)
class Registration:
    version: ModelVersion
    created: bool


@dataclass(frozen=True)
class ModelArtifact:
    path: Path
    sha256: str
    size_bytes: int
    suffix: str


def inspect_artifact(path: Path) -> ModelArtifact:
    path = check_readable(Path(path))
    sha = sha256_file(path)
    return ModelArtifact(path.absolute(), sha, path.stat().st_size, "".join(path.suffixes[-1:]).lower())


def get_version(session: Session, *, name: str, version: str) -> ModelVersion:
    found = session.scalar(
        select(ModelVersion).join(Model).where(Model.name == name, ModelVersion.version == version)
    )
    if found is None:
        raise NotFound(f"model {name}@{version} is not registered")
    return found


def get_by_ref(session: Session, ref: str) -> ModelVersion:
    name, version = parse_ref(ref)
    return get_version(session, name=name, version=version)


def get_model(session: Session, *, name: str) -> Model:
    found = session.scalar(select(Model).where(Model.name == name))
    if found is None:
        raise NotFound(f"model '{name}' is not registered")
    return found


# What ``ModelVersion.to_dict`` reads, loaded with the rows (a constant number of queries per page).
def _version_loads(query: Select[ModelVersion]) -> Select[ModelVersion]:
    return query.options(
        contains_eager(ModelVersion.model),
        joinedload(ModelVersion.base_model).joinedload(ModelVersion.model),
        selectinload(ModelVersion.datasets)
        .joinedload(ModelDataset.dataset_version)
        .load_only(DatasetVersion.version)  # its ref, not its columns and quality report (large JSON)
        .joinedload(DatasetVersion.dataset),
    )


def versions_query(*, name: str | None = None, stage: str | None = None) -> Select[ModelVersion]:
    """Versions by model name, then registration order; filtered in SQL (for pagination)."""
    query = select(ModelVersion).join(Model)
    if name is not None:
        query = query.where(Model.name == name)
    if stage is not None:
        query = query.where(ModelVersion.stage == stage)
    return _version_loads(query.order_by(Model.name, ModelVersion.id))


def _version_filters(name: str | None, stage: str | None) -> list[Any]:
    conditions: list[Any] = []
    if name is not None:
        conditions.append(Model.name == name)
    if stage is not None:
        conditions.append(ModelVersion.stage == stage)
    return conditions


def count_versions(session: Session, *, name: str | None = None, stage: str | None = None) -> int:
    """How many versions :func:`version_rows` pages over (``count(*)``)."""
    query = select(func.count()).select_from(ModelVersion).join(Model, ModelVersion.model_id == Model.id)
    return int(session.scalar(query.where(*_version_filters(name, stage))) or 0)


# The list statements are built once: building one (aliases, column proxies) costs more than running it.
_BASE_VERSION = aliased(ModelVersion, name="base_version")
_BASE_MODEL = aliased(Model, name="base_model")
_VERSION_ROWS = (
    select(
        ModelVersion.id,
        Model.name,
        ModelVersion.version,
        ModelVersion.artifact_location,
        ModelVersion.source_path,
        ModelVersion.sha256,
        ModelVersion.size_bytes,
        ModelVersion.framework,
        ModelVersion.task,
        ModelVersion.license_expression,
        _BASE_MODEL.name.label("base_name"),
        _BASE_VERSION.version.label("base_version"),
        ModelVersion.dependencies,
        ModelVersion.hyperparameters,
        ModelVersion.seed,
        ModelVersion.metrics,
        ModelVersion.mlflow_run_id,
        ModelVersion.intended_use,
        ModelVersion.intended_purpose,
        ModelVersion.risk_tier,
        ModelVersion.risk_assessed,
        ModelVersion.risk_reason,
        ModelVersion.stage,
        ModelVersion.description,
        ModelVersion.registered_by,
        ModelVersion.created_at,
    )
    .join(Model, ModelVersion.model_id == Model.id)
    .outerjoin(_BASE_VERSION, ModelVersion.base_model_version_id == _BASE_VERSION.id)
    .outerjoin(_BASE_MODEL, _BASE_VERSION.model_id == _BASE_MODEL.id)
    .order_by(Model.name, ModelVersion.id)
)
_DATASET_LINKS = (
    select(ModelDataset.model_version_id, Dataset.name, DatasetVersion.version, ModelDataset.role)
    .join(DatasetVersion, ModelDataset.dataset_version_id == DatasetVersion.id)
    .join(Dataset, DatasetVersion.dataset_id == Dataset.id)
    .where(ModelDataset.model_version_id.in_(bindparam("version_ids", expanding=True)))
    .order_by(ModelDataset.id)
)


def version_rows(
    session: Session, *, name: str | None = None, stage: str | None = None, limit: int, offset: int
) -> list[dict[str, Any]]:
    """One page of versions as ``ModelVersion.to_dict()`` gives them, read as rows, not ORM objects.

    Two queries whatever the page's size: the versions with their model's name and their base
    model's ref (joined), then the dataset links of the page's versions. Lists read this way:
    building ORM objects cost more than the queries themselves (issue 15).
    """
    query = _VERSION_ROWS.where(*_version_filters(name, stage)).limit(limit).offset(offset)
    rows = session.execute(query).mappings().all()
    links = dataset_links(session, version_ids=[r["id"] for r in rows])
    return [
        version_dict(
            r.__getitem__,
            name=r["name"],
            base_model=f"{r['base_name']}@{r['base_version']}" if r["base_name"] is not None else None,
            datasets=links.get(r["id"], []),
        )
        for r in rows
    ]


def dataset_links(session: Session, *, version_ids: list[int]) -> dict[int, list[dict[str, str]]]:
    """The dataset links of each version (``{"dataset": ref, "role": ...}``), in one query."""
    found: dict[int, list[dict[str, str]]] = {}
    if not version_ids:
        return found
    for version_id, dataset, version, role in session.execute(
        _DATASET_LINKS, {"version_ids": version_ids}
    ).tuples():
        found.setdefault(version_id, []).append({"dataset": f"{dataset}@{version}", "role": role})
    return found


def list_versions(
    session: Session, *, name: str | None = None, stage: str | None = None
) -> list[ModelVersion]:
    return list(session.scalars(versions_query(name=name, stage=stage)).unique())


def _choice(value: str, allowed: tuple[str, ...], what: str) -> str:
    if value not in allowed:
        raise InvalidInput(f"{what} '{value}' is not one of {', '.join(allowed)}")
    return value


def register(
    session: Session,
    *,
    storage: LocalStorage | None,
    artifact: ModelArtifact,
    name: str,
    version: str,
    intended_use: str,
    actor: str,
    risk_tier: str | None = None,
    intended_purpose: str | None = None,
    license_expression: str | None = None,
    datasets: list[tuple[str, str]] | None = None,
    base_model: str | None = None,
    framework: str | None = None,
    task: str | None = None,
    dependencies: list[dict[str, Any]] | None = None,
    hyperparameters: dict[str, Any] | None = None,
    seed: int | None = None,
    metrics: dict[str, Any] | None = None,
    mlflow_run_id: str | None = None,
    description: str | None = None,
) -> Registration:
    """Register ``artifact`` as ``name@version``, a candidate; the same content again is a no-op.

    ``datasets`` are ``(NAME@VERSION, role)`` pairs; ``base_model`` a ``NAME@VERSION``. The risk
    tier is assessed from the facts (``intended_purpose``, the personal data in the lineage); a
    declared ``risk_tier`` can raise it, never lower it.
    """
    check_name(name, "model name")
    check_version(version)
    _choice(intended_use, INTENDED_USES, "intended use")
    if risk_tier is not None:
        _choice(risk_tier, RISK_TIERS, "risk tier")
    if intended_purpose is not None:
        _choice(intended_purpose, INTENDED_PURPOSES, "intended purpose")
    license_text = (
        license_service.normalize_expression(session, license_expression) if license_expression else None
    )
    links = []
    for ref, role in datasets or []:
        _choice(role, DATASET_ROLES, "dataset role")
        links.append((dataset_service.get_by_ref(session, ref), role))
    if base_model is not None and parse_ref(base_model) == (name, version):
        raise Conflict(f"lineage cycle: {name}@{version} cannot be its own base model")
    base = get_by_ref(session, base_model) if base_model else None
    if looks_like_pytorch(artifact.path):
        # Refused before anything is stored: the platform would never load it (see archives.py).
        inspect_archive(artifact.path.read_bytes(), label=artifact.path.name)
    resolved_framework = (
        framework or FRAMEWORK_BY_SUFFIX.get(artifact.suffix) or _sniff_framework(artifact.path)
    )
    if resolved_framework is None:
        raise InvalidInput(f"cannot tell the framework of {artifact.path.name}: pass --framework")

    model = session.scalar(select(Model).where(Model.name == name))
    if model is not None:
        existing = session.scalar(
            select(ModelVersion).where(ModelVersion.model_id == model.id, ModelVersion.version == version)
        )
        if existing is not None:
            if existing.sha256 == artifact.sha256:
                return Registration(existing, created=False)
            raise Conflict(
                f"model {name}@{version} is already registered with another artifact "
                f"(sha256 {existing.sha256[:12]}…, this file {artifact.sha256[:12]}…)"
            )
    else:
        model = Model(name=name)
        session.add(model)
        session.flush()
    if base is not None:
        _assert_acyclic(base, {(name, version)})

    location = (
        storage.put_file(
            session, artifact.path, kind="models", sha256=artifact.sha256, suffix=artifact.suffix
        )
        if storage is not None
        else artifact.path
    )
    mv = ModelVersion(
        model=model,
        version=version,
        artifact_location=str(location),
        source_path=str(artifact.path),
        sha256=artifact.sha256,
        size_bytes=artifact.size_bytes,
        framework=resolved_framework,
        task=task,
        license_expression=license_text,
        base_model=base,
        dependencies=dependencies or [],
        hyperparameters=hyperparameters or {},
        seed=seed,
        metrics=metrics or {},
        mlflow_run_id=mlflow_run_id,
        intended_use=intended_use,
        intended_purpose=intended_purpose,
        stage="candidate",
        description=description,
        registered_by=actor,
    )
    mv.datasets = [ModelDataset(dataset_version=dv, role=role) for dv, role in links]
    with session.no_autoflush:  # the lineage walk must not flush the half-built version
        risk_rules.apply_assessment(mv, declared=risk_tier)
    session.add(mv)
    session.flush()
    session.add(StageTransition(model_version=mv, from_stage=None, to_stage="candidate", actor=actor))
    audit_service.record(
        session,
        actor=actor,
        action="model.register",
        entity_type="model_version",
        entity_id=mv.ref,
        changes={k: v for k, v in mv.to_dict().items() if k not in {"created_at", "registered_by"}},
    )
    return Registration(mv, created=True)


def _assert_acyclic(start: ModelVersion, seen: set[tuple[str, str]]) -> None:
    node: ModelVersion | None = start
    while node is not None:
        key = (node.model.name, node.version)
        if key in seen:
            raise Conflict(f"lineage cycle: {node.ref} is its own ancestor")
        seen.add(key)
        node = node.base_model


def base_chain(mv: ModelVersion) -> list[ModelVersion]:
    """``mv``'s base models, nearest first; a cycle raises Conflict."""
    chain: list[ModelVersion] = []
    seen = {mv.id}
    node = mv.base_model
    while node is not None:
        if node.id in seen:
            raise Conflict(f"lineage cycle: {node.ref} is its own ancestor")
        seen.add(node.id)
        chain.append(node)
        node = node.base_model
    return chain


def lineage(mv: ModelVersion, _seen: frozenset[int] = frozenset()) -> dict[str, Any]:
    """The upstream tree of ``mv``: datasets (and what they derive from) and base models."""
    if mv.id in _seen:
        raise Conflict(f"lineage cycle: {mv.ref} is its own ancestor")
    seen = _seen | {mv.id}

    def dataset_node(dv: Any, role: str | None, visited: frozenset[int]) -> dict[str, Any]:
        if dv.id in visited:
            raise Conflict(f"lineage cycle: dataset {dv.ref} derives from itself")
        return {
            "ref": dv.ref,
            "kind": "dataset",
            "role": role,
            "license": dv.license_expression,
            "personal_data": dv.personal_data,
            "sha256": dv.sha256,
            "derived_from": [dataset_node(p, None, visited | {dv.id}) for p in dv.parents],
        }

    return {
        "ref": mv.ref,
        "kind": "model",
        "license": mv.license_expression,
        "intended_use": mv.intended_use,
        "stage": mv.stage,
        "sha256": mv.sha256,
        "datasets": [dataset_node(link.dataset_version, link.role, frozenset()) for link in mv.datasets],
        "base_model": lineage(mv.base_model, seen) if mv.base_model is not None else None,
        "dependencies": len(mv.dependencies or []),
    }


def set_stage(
    session: Session,
    *,
    mv: ModelVersion,
    stage: str,
    actor: str,
    reason: str | None = None,
) -> list[StageTransition]:
    """Move ``mv`` to ``stage``; promoting to production archives the previous production version.

    The compliance and approval gates are applied by the caller (see ``governance.promotion``).
    """
    _choice(stage, STAGES, "stage")
    if stage == mv.stage:
        raise Conflict(f"{mv.ref} is already in {stage}")
    if stage not in TRANSITIONS[mv.stage]:
        raise Conflict(f"{mv.ref} cannot move from {mv.stage} to {stage}")
    moves: list[tuple[ModelVersion, str, str | None]] = []
    if stage == "production":
        for other in list_versions(session, name=mv.model.name, stage="production"):
            if other.id != mv.id:
                moves.append((other, "archived", f"replaced by {mv.ref}"))
    moves.append((mv, stage, reason))
    transitions = []
    now = utcnow()
    for version, to_stage, why in moves:
        transition = StageTransition(
            model_version=version,
            from_stage=version.stage,
            to_stage=to_stage,
            actor=actor,
            reason=why,
            at=now,
        )
        session.add(transition)
        audit_service.record(
            session,
            actor=actor,
            action="model.stage",
            entity_type="model_version",
            entity_id=version.ref,
            changes={"from": version.stage, "to": to_stage, "reason": why},
        )
        version.stage = to_stage
        transitions.append(transition)
    session.flush()
    return transitions


def history_query(session: Session, *, name: str) -> Select[StageTransition]:
    """Model ``name``'s stage transitions in order, their versions loaded with them."""
    model = get_model(session, name=name)
    return (
        select(StageTransition)
        .join(ModelVersion)
        .where(ModelVersion.model_id == model.id)
        .options(contains_eager(StageTransition.model_version).joinedload(ModelVersion.model))
        .order_by(StageTransition.at, StageTransition.id)
    )


def history(session: Session, *, name: str) -> list[StageTransition]:
    return list(session.scalars(history_query(session, name=name)))


def in_production_at(transitions: list[StageTransition], at: datetime) -> list[str]:
    """Which versions were in production at ``at``, replaying the stage history."""
    stage: dict[str, str] = {}
    for t in transitions:
        if t.at > at:
            break
        stage[t.model_version.ref] = t.to_stage
    return [ref for ref, s in stage.items() if s == "production"]
