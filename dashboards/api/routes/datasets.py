"""Datasets and their versions; a version is registered by sending the file as the body."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from dashboards.api.deps import Editor, Page, PageDep, SessionDep, SettingsDep, Viewer, page_of_query
from dashboards.api.schemas import MAX_TEXT, DatasetRead, RefList
from dashboards.api.upload import UploadDep
from governance.dataset import service
from governance.storage import LocalStorage
from trainer.workflows import register_dataset_with_quality

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("", response_model=Page[DatasetRead])
def list_datasets(
    session: SessionDep,
    user: Viewer,
    page: PageDep,
    name: Annotated[str | None, Query(max_length=128)] = None,
) -> Page[Any]:
    return page_of_query(session, service.versions_query(name=name), page, lambda x: x.to_dict())


@router.get("/{name}/{version}", response_model=DatasetRead)
def get_dataset(name: str, version: str, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.get_version(session, name=name, version=version).to_dict()


@router.put("/{name}/{version}", status_code=201, response_model=DatasetRead)
def register_dataset(
    name: str,
    version: str,
    user: Editor,
    file: UploadDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
    license: Annotated[str, Query(max_length=512, description="SPDX expression, e.g. CC-BY-4.0.")],
    label: Annotated[str | None, Query(max_length=256)] = None,
    source: Annotated[str | None, Query(max_length=MAX_TEXT)] = None,
    personal_data: Annotated[str, Query(max_length=16)] = "none",
    legal_basis: Annotated[str | None, Query(max_length=256)] = None,
    jurisdiction: Annotated[list[Annotated[str, Query(max_length=64)]] | None, Query(max_length=64)] = None,
    derived_from: RefList = None,
) -> dict[str, Any]:
    """Register the request body (CSV, CSV.gz, Parquet or NPZ; named by ``filename``) as NAME@VERSION."""
    result = register_dataset_with_quality(
        session,
        file=file,
        storage=LocalStorage(settings.storage_root),
        name=name,
        version=version,
        license_expression=license,
        actor=user.name,
        label_column=label,
        source=source,
        personal_data=personal_data,
        legal_basis=legal_basis,
        jurisdictions=jurisdiction or [],
        derived_from=derived_from or [],
    )
    if not result.created:
        response.status_code = 200
    return {**result.version.to_dict(), "created": result.created}
