"""Row factories for service-level tests: real files, real registrations, no shortcuts."""

from __future__ import annotations

from itertools import count
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from governance.dataset import service as dataset_service
from governance.dataset.files import inspect_file
from governance.dataset.models import DatasetVersion
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion
from governance.storage import LocalStorage

_serial = count()


def dataset(
    session: Session,
    folder: Path,
    ref: str,
    license: str,
    *,
    path: Path | None = None,
    storage: LocalStorage | None = None,
    **fields: Any,
) -> DatasetVersion:
    """Register ``path`` (default: a fresh small CSV in ``folder``) as ``ref``, copied into ``storage``."""
    name, version = ref.split("@")
    if path is None:
        path = folder / f"{name}-{version}-{next(_serial)}.csv"
        path.write_text(f"x,y\n{next(_serial)},1\n2,0\n")
    return dataset_service.register(
        session,
        storage=storage,
        file=inspect_file(path),
        name=name,
        version=version,
        license_expression=license,
        actor="factory",
        **fields,
    ).version


def model(
    session: Session,
    folder: Path,
    ref: str,
    *,
    use: str = "commercial",
    license: str | None = None,
    trained_on: list[str] | None = None,
    base: str | None = None,
    dependencies: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> ModelVersion:
    name, version = ref.split("@")
    path = folder / f"{name}-{version}-{next(_serial)}.pt"
    path.write_bytes(f"weights {next(_serial)}".encode())
    return model_service.register(
        session,
        storage=None,
        artifact=model_service.inspect_artifact(path),
        name=name,
        version=version,
        intended_use=use,
        actor="factory",
        license_expression=license,
        datasets=[(r, "train") for r in trained_on or []],
        base_model=base,
        dependencies=dependencies,
        **fields,
    ).version
