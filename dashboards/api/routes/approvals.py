"""Approval requests and decisions; the actor is the API key's user."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from dashboards.api.deps import Approver, Editor, Page, PageDep, PolicyDep, SessionDep, Viewer, page_of_query
from dashboards.api.schemas import ApprovalRequestRead, Comment, InputModel, Ref, RowId, Status
from governance.approval import service
from governance.approval.models import ApprovalRequest
from governance.auth.principal import Principal
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion

router = APIRouter(prefix="/approvals", tags=["approvals"])


class ApprovalRequestCreate(InputModel):
    model: Ref = Field(description="NAME@VERSION to promote to production.")
    comment: Comment | None = None


class Decision(InputModel):
    comment: Comment | None = None


@router.get("", response_model=Page[ApprovalRequestRead])
def list_requests(
    session: SessionDep, user: Viewer, page: PageDep, status: Status | None = None
) -> Page[Any]:
    query = (
        select(ApprovalRequest)
        .options(
            joinedload(ApprovalRequest.model_version).joinedload(ModelVersion.model),
            selectinload(ApprovalRequest.approvals),
        )
        .order_by(ApprovalRequest.id.desc())
    )
    if status is not None:
        query = query.where(ApprovalRequest.status == status)
    return page_of_query(session, query, page, lambda r: r.to_dict())


@router.post("", status_code=201, response_model=ApprovalRequestRead)
def open_request(
    data: ApprovalRequestCreate, session: SessionDep, user: Editor, policy: PolicyDep
) -> dict[str, Any]:
    mv = model_service.get_by_ref(session, data.model)
    return service.request(session, mv=mv, actor=user.name, policy=policy, comment=data.comment).to_dict()


@router.get("/{request_id}", response_model=ApprovalRequestRead)
def get_request(request_id: RowId, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.get(session, request_id=request_id).to_dict()


@router.post("/{request_id}/approve", response_model=ApprovalRequestRead)
def approve(request_id: RowId, data: Decision, session: SessionDep, user: Approver) -> dict[str, Any]:
    return service.approve(
        session, request_id=request_id, principal=Principal.of_user(user), comment=data.comment
    ).to_dict()


@router.post("/{request_id}/reject", response_model=ApprovalRequestRead)
def reject(request_id: RowId, data: Decision, session: SessionDep, user: Approver) -> dict[str, Any]:
    return service.reject(
        session, request_id=request_id, principal=Principal.of_user(user), comment=data.comment
    ).to_dict()


@router.post("/{request_id}/cancel", response_model=ApprovalRequestRead)
def cancel(request_id: RowId, data: Decision, session: SessionDep, user: Editor) -> dict[str, Any]:
    """Withdraw a pending request."""
    return service.cancel(
        session, request_id=request_id, principal=Principal.of_user(user), comment=data.comment
    ).to_dict()
