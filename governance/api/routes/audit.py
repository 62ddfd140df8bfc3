"""The audit log and its chain's verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from governance.api.deps import Page, PageDep, SessionDep, Viewer, page_of_query
from governance.api.schemas import AuditEventRead, ChainVerificationRead
from governance.audit import service
from governance.audit.models import AuditEvent

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/events", response_model=Page[AuditEventRead])
def list_events(
    session: SessionDep,
    user: Viewer,
    page: PageDep,
    entity: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[Any]:
    """Events, newest first."""
    query = select(AuditEvent).order_by(AuditEvent.id.desc())
    if entity is not None:
        query = query.where(AuditEvent.entity_id == entity)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return page_of_query(session, query, page, lambda e: e.to_dict())


@router.get("/verify", response_model=ChainVerificationRead)
def verify(session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.verify(session).to_dict()
