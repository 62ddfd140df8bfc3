"""Dataset registry: immutable, content-addressed versions with license and personal-data facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, contains_eager, selectinload

from governance.audit import service as audit_service
from governance.dataset.files import DatasetFile
from governance.dataset.models import PERSONAL_DATA_CLASSES, Dataset, DatasetVersion
from governance.errors import Conflict, InvalidInput, NotFound
from governance.license import service as license_service
from governance.refs import check_name, check_version, parse_ref
from governance.storage import LocalStorage

JURISDICTIONS = (
    "GDPR",
    "UK-GDPR",
    "PDPA",
    "CCPA",
    "CPRA",
    "CDPA",
    "CPA",
    "LGPD",
    "PIPEDA",
    "PIPL",
    "APPI",
    "HIPAA",
)


@dataclass(frozen=True)
class Registration:
    """The outcome of a register call: the version and whether it was new."""

    version: DatasetVersion
    created: bool


def get_version(session: Session, *, name: str, version: str) -> DatasetVersion:
    found = session.scalar(
        select(DatasetVersion).join(Dataset).where(Dataset.name == name, DatasetVersion.version == version)
    )
    if found is None:
        raise NotFound(f"dataset {name}@{version} is not registered")
    return found


def get_by_ref(session: Session, ref: str) -> DatasetVersion:
    name, version = parse_ref(ref)
    return get_version(session, name=name, version=version)


def get_dataset(session: Session, *, name: str) -> Dataset:
    found = session.scalar(select(Dataset).where(Dataset.name == name))
    if found is None:
        raise NotFound(f"dataset '{name}' is not registered")
    return found


def versions_query(*, name: str | None = None) -> Select[DatasetVersion]:
    """Versions by dataset name, then registration order, with what ``to_dict`` reads loaded."""
    query = select(DatasetVersion).join(Dataset)
    if name is not None:
        query = query.where(Dataset.name == name)
    return query.options(
        contains_eager(DatasetVersion.dataset),
        selectinload(DatasetVersion.parents).joinedload(DatasetVersion.dataset),
    ).order_by(Dataset.name, DatasetVersion.id)


def list_versions(session: Session, *, name: str | None = None) -> list[DatasetVersion]:
    return list(session.scalars(versions_query(name=name)))


def _check_personal_data(personal_data: str, legal_basis: str | None, jurisdictions: list[str]) -> list[str]:
    if personal_data not in PERSONAL_DATA_CLASSES:
        raise InvalidInput(
            f"personal-data class '{personal_data}' is not one of {', '.join(PERSONAL_DATA_CLASSES)}"
        )
    normalized = []
    for j in jurisdictions:
        upper = j.strip().upper()
        if upper not in JURISDICTIONS:
            raise InvalidInput(f"jurisdiction '{j}' is not one of {', '.join(JURISDICTIONS)}")
        normalized.append(upper)
    if personal_data == "none" and legal_basis:
        raise InvalidInput("a legal basis was given for a dataset declared to hold no personal data")
    return sorted(set(normalized))


def register(
    session: Session,
    *,
    storage: LocalStorage | None,
    file: DatasetFile,
    name: str,
    version: str,
    license_expression: str,
    actor: str,
    label_column: str | None = None,
    source: str | None = None,
    personal_data: str = "none",
    legal_basis: str | None = None,
    jurisdictions: list[str] | None = None,
    derived_from: list[str] | None = None,
    quality_report: dict[str, Any] | None = None,
) -> Registration:
    """Register ``file`` as ``name@version``; the same content again is a no-op."""
    check_name(name, "dataset name")
    check_version(version)
    license_text = license_service.normalize_expression(session, license_expression)
    juris = _check_personal_data(personal_data, legal_basis, list(jurisdictions or []))
    column_names = [c["name"] for c in file.columns]
    if label_column is not None and label_column not in column_names:
        raise InvalidInput(f"label column '{label_column}' is not a column of {file.path.name}")
    parents = [get_by_ref(session, ref) for ref in derived_from or []]

    dataset = session.scalar(select(Dataset).where(Dataset.name == name))
    if dataset is not None:
        existing = session.scalar(
            select(DatasetVersion).where(
                DatasetVersion.dataset_id == dataset.id, DatasetVersion.version == version
            )
        )
        if existing is not None:
            if existing.sha256 == file.sha256:
                return Registration(existing, created=False)
            raise Conflict(
                f"dataset {name}@{version} is already registered with other content "
                f"(sha256 {existing.sha256[:12]}…, this file {file.sha256[:12]}…)"
            )
    else:
        dataset = Dataset(name=name)
        session.add(dataset)
        session.flush()

    location = (
        storage.put_file(session, file.path, kind="datasets", sha256=file.sha256, suffix=file.suffix)
        if storage is not None
        else file.path
    )
    dv = DatasetVersion(
        dataset=dataset,
        version=version,
        location=str(location),
        source_path=str(file.path),
        sha256=file.sha256,
        format=file.format,
        size_bytes=file.size_bytes,
        rows=file.rows,
        columns=file.columns,
        label_column=label_column,
        source=source,
        license_expression=license_text,
        personal_data=personal_data,
        legal_basis=legal_basis,
        jurisdictions=juris,
        quality_report=quality_report,
        registered_by=actor,
        parents=parents,
    )
    session.add(dv)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="dataset.register",
        entity_type="dataset_version",
        entity_id=dv.ref,
        changes={k: v for k, v in dv.to_dict().items() if k not in {"created_at", "registered_by"}},
    )
    return Registration(dv, created=True)
