"""Retrain jobs requested by breaches."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from dashboards.api.deps import Page, PageDep, SessionDep, Viewer, page_of_query
from dashboards.api.schemas import RetrainJobRead, RowId, Status
from governance.mlmodel.models import ModelVersion
from governance.monitoring import jobs as service
from governance.monitoring.models import RetrainJob

router = APIRouter(prefix="/retrain-jobs", tags=["retrain jobs"])


@router.get("", response_model=Page[RetrainJobRead])
def list_jobs(session: SessionDep, user: Viewer, page: PageDep, status: Status | None = None) -> Page[Any]:
    query = (
        select(RetrainJob)
        .options(
            joinedload(RetrainJob.model_version).joinedload(ModelVersion.model),
            joinedload(RetrainJob.monitor),
        )
        .order_by(RetrainJob.id.desc())
    )
    if status is not None:
        query = query.where(RetrainJob.status == status)
    return page_of_query(session, query, page, lambda j: j.to_dict())


@router.get("/{job_id}", response_model=RetrainJobRead)
def get_job(job_id: RowId, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.get(session, job_id=job_id).to_dict()
