"""Alerts raised by monitor breaches: list, acknowledge, resolve."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from dashboards.api.deps import Editor, Page, PageDep, SessionDep, Viewer, page_of_query
from dashboards.api.schemas import AlertRead, Comment, InputModel, RowId, Status
from governance.mlmodel.models import ModelVersion
from governance.monitoring import alerts as service
from governance.monitoring.models import Alert, Monitor

router = APIRouter(prefix="/alerts", tags=["alerts"])


class AlertResolve(InputModel):
    comment: Comment | None = None


@router.get("", response_model=Page[AlertRead])
def list_alerts(session: SessionDep, user: Viewer, page: PageDep, status: Status | None = None) -> Page[Any]:
    loads = joinedload(Alert.monitor).joinedload(Monitor.model_version).joinedload(ModelVersion.model)
    query = select(Alert).options(loads).order_by(Alert.id.desc())
    if status is not None:
        query = query.where(Alert.status == status)
    return page_of_query(session, query, page, lambda a: a.to_dict())


@router.get("/{alert_id}", response_model=AlertRead)
def get_alert(alert_id: RowId, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.get(session, alert_id=alert_id).to_dict()


@router.post("/{alert_id}/ack", response_model=AlertRead)
def ack_alert(
    alert_id: RowId, session: SessionDep, user: Editor, data: AlertResolve | None = None
) -> dict[str, Any]:
    comment = data.comment if data is not None else None
    return service.acknowledge(session, alert_id=alert_id, actor=user.name, comment=comment).to_dict()


@router.post("/{alert_id}/resolve", response_model=AlertRead)
def resolve_alert(alert_id: RowId, data: AlertResolve, session: SessionDep, user: Editor) -> dict[str, Any]:
    return service.resolve(session, alert_id=alert_id, actor=user.name, comment=data.comment).to_dict()
