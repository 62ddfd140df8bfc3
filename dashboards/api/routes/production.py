"""Production data: batches of inference records and late labels, for a model version or a model.

Sent to ``/models/{name}/...`` (no version), each record goes to the version that was in
production at its timestamp and each label to the version whose records carry its request_id.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel

from dashboards.api.deps import Editor, Page, PageDep, SessionDep, SettingsDep, Viewer, page_of_query
from dashboards.api.schemas import BatchRead
from dashboards.api.upload import UploadDep
from governance.mlmodel import service as model_service
from governance.production import routing, service
from governance.storage import LocalStorage

router = APIRouter(prefix="/models/{name}", tags=["production"])


class RoutedBatchesRead(BaseModel):
    """A file sent to a model by name: the batches it became, one per version it was routed to."""

    model: str
    kind: str
    rows: int
    created: bool
    batches: list[BatchRead]


@router.get("/{version}/batches", response_model=Page[BatchRead])
def list_batches(
    name: str,
    version: str,
    session: SessionDep,
    user: Viewer,
    page: PageDep,
    kind: Annotated[str | None, Query(max_length=16)] = None,
) -> Page[Any]:
    mv = model_service.get_version(session, name=name, version=version)
    return page_of_query(session, service.batches_query(mv=mv, kind=kind), page, lambda b: b.to_dict())


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


def _ingest_by_name(
    name: str, kind: str, file: Any, session: Any, settings: Any, user: Any, response: Response
) -> dict[str, Any]:
    routed = routing.ingest_by_name(
        session, storage=LocalStorage(settings.storage_root), name=name, path=file, kind=kind, actor=user.name
    )
    if not routed.created:
        response.status_code = 200
    return routed.to_dict()


@router.post("/{version}/predictions", status_code=201, response_model=BatchRead)
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


@router.post("/{version}/labels", status_code=201, response_model=BatchRead)
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


@router.post("/predictions", status_code=201, response_model=RoutedBatchesRead)
def ingest_predictions_by_name(
    name: str, user: Editor, file: UploadDep, session: SessionDep, settings: SettingsDep, response: Response
) -> dict[str, Any]:
    """Store inference records sent to the model: each goes to the version in production at its timestamp."""
    return _ingest_by_name(name, "predictions", file, session, settings, user, response)


@router.post("/labels", status_code=201, response_model=RoutedBatchesRead)
def ingest_labels_by_name(
    name: str, user: Editor, file: UploadDep, session: SessionDep, settings: SettingsDep, response: Response
) -> dict[str, Any]:
    """Store late labels sent to the model: each goes to the version whose records carry its request_id."""
    return _ingest_by_name(name, "labels", file, session, settings, user, response)
