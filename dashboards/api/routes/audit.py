"""The audit log and its chain's verification."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from dashboards.api.deps import Page, PageDep, SessionDep, Viewer
from dashboards.api.schemas import AuditEventRead, ChainVerificationRead
from governance.audit import service

router = APIRouter(prefix="/audit", tags=["audit"])


@router.get("/events", response_model=Page[AuditEventRead])
def list_events(
    session: SessionDep,
    user: Viewer,
    page: PageDep,
    entity: Annotated[str | None, Query(max_length=256)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[Any]:
    """Events, newest first; an altered row that no longer decodes is listed with those values null."""
    events = service.list_events(
        session, entity_id=entity, action=action, limit=page.limit, offset=page.offset
    )
    return Page(
        items=[e.to_dict() for e in events],
        total=service.count_events(session, entity_id=entity, action=action),
        limit=page.limit,
        offset=page.offset,
    )


@router.get("/verify", response_model=ChainVerificationRead)
def verify(session: SessionDep, user: Viewer, full: bool = False) -> dict[str, Any]:
    """The chain's verification: from the last point this server verified, or (``full``) all of it."""
    return service.verify(session, incremental=not full).to_dict()
