"""Production data: batches of inference records and late labels for a model version."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from governance.api.deps import Editor, Page, PageDep, SessionDep, SettingsDep, Viewer, page_of_list
from governance.api.schemas import BatchRead
from governance.api.upload import UploadDep
from governance.mlmodel import service as model_service
from governance.production import service
from governance.storage import LocalStorage

router = APIRouter(prefix="/models/{name}/{version}", tags=["production"])


@router.get("/batches", response_model=Page[BatchRead])
def list_batches(
    name: str,
    version: str,
    session: SessionDep,
    user: Viewer,
    page: PageDep,
    kind: Annotated[str | None, Query(max_length=16)] = None,
) -> Page[Any]:
    mv = model_service.get_version(session, name=name, version=version)
    return page_of_list(service.list_batches(session, mv=mv, kind=kind), page, lambda b: b.to_dict())


def _ingest(
    name: str, version: str, kind: str, file: Any, session: Any, settings: Any, user: Any, response: Response
) -> dict[str, Any]:
    mv = model_service.get_version(session, name=name, version=version)
    result = service.ingest(
        session, storage=LocalStorage(settings.storage_root), mv=mv, path=file, kind=kind, actor=user.name
    )
    if not result.created:
        response.status_code = 200
    return {**result.batch.to_dict(), "created": result.created}


@router.post("/predictions", status_code=201, response_model=BatchRead)
def ingest_predictions(
    name: str,
    version: str,
    user: Editor,
    file: UploadDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """Store a batch of inference records (the body: CSV or Parquet, named by ``filename``)."""
    return _ingest(name, version, "predictions", file, session, settings, user, response)


@router.post("/labels", status_code=201, response_model=BatchRead)
def ingest_labels(
    name: str,
    version: str,
    user: Editor,
    file: UploadDep,
    session: SessionDep,
    settings: SettingsDep,
    response: Response,
) -> dict[str, Any]:
    """Store ground truth that arrived later (request_id, label[, labeled_at])."""
    return _ingest(name, version, "labels", file, session, settings, user, response)
