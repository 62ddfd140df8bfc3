"""Human review of production decisions: the queue (viewers read it), verdicts (reviewers, editors
and admins, as the verified user of the key or session) and each model's review configuration."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from dashboards.api.deps import Editor, Page, PageDep, SessionDep, Viewer, page_of_query, require
from dashboards.api.schemas import MAX_TEXT, Name, RowId
from governance.auth.models import User
from governance.auth.principal import Principal
from governance.errors import NotFound
from governance.mlmodel import service as model_service
from governance.refs import check_name
from governance.review import evidence, service
from governance.review.models import MAX_LABEL

router = APIRouter(tags=["review"])
Reviewer = Annotated[User, Depends(require("reviewer"))]


class ReviewItemRead(BaseModel):
    id: int
    model: str
    model_version: str
    request_id: str
    record_time: datetime | None
    reason: str
    monitor_id: int | None
    inputs: dict[str, Any]
    prediction: str
    probability: float | None
    probabilities: dict[str, Any] | None
    status: str
    verdict: str | None
    label: str | None
    comment: str | None
    reviewer: str | None
    reviewer_role: str | None
    verification: str | None
    reviewer_label: str | None
    reviewed_at: datetime | None
    created_at: datetime
    explanation: dict[str, Any] | None = None


class VerdictCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["agree", "disagree", "unsure"]
    label: str | None = Field(default=None, max_length=MAX_LABEL, description="The correct label (disagree).")
    comment: str | None = Field(default=None, max_length=MAX_TEXT, description="Required to disagree.")
    model: Name | None = Field(default=None, description="The item's model; refused when it is another's.")


class ReviewConfigSet(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    share: float = Field(ge=0.0, le=1.0, description="Share of each window's records sampled for review.")
    uncertainty_threshold: float | None = Field(
        default=None,
        gt=0.0,
        le=1.0,
        description="Records whose top-class probability is below it are queued.",
    )


class ReviewConfigRead(BaseModel):
    model: str
    share: float
    uncertainty_threshold: float | None
    updated_by: str
    updated_at: datetime


@router.get("/review", response_model=Page[ReviewItemRead])
def list_queue(
    session: SessionDep,
    user: Viewer,
    page: PageDep,
    model: Annotated[Name | None, Query(description="Only this model's items.")] = None,
    version: Annotated[
        str | None, Query(max_length=64, description="Only this version's (with model).")
    ] = None,
    status: Annotated[Literal["open", "reviewed"] | None, Query()] = None,
    reason: Annotated[Literal["sampled", "uncertain", "inconsistent"] | None, Query()] = None,
) -> Page[Any]:
    """The review queue, oldest first, filtered and paged in SQL."""
    model_id = version_id = None
    if model is not None:
        model_id = model_service.get_model(session, name=check_name(model, "model name")).id
        if version is not None:
            version_id = model_service.get_version(session, name=model, version=version).id
    query = service.items_query(model_id=model_id, model_version_id=version_id, status=status, reason=reason)
    return page_of_query(session, query, page, lambda item: item.to_dict())


@router.get("/review/{item_id}", response_model=ReviewItemRead)
def show_item(item_id: RowId, session: SessionDep, user: Viewer) -> dict[str, Any]:
    item = service.get(session, item_id=item_id)
    return {**item.to_dict(), "explanation": evidence.explanation(session, item=item)}


@router.post("/review/{item_id}/verdict", response_model=ReviewItemRead)
def record_verdict(
    item_id: RowId, data: VerdictCreate, session: SessionDep, user: Reviewer
) -> dict[str, Any]:
    """Record the caller's verdict on an open item; a second verdict on the item is refused (409)."""
    return service.record_verdict(
        session,
        item_id=item_id,
        principal=Principal.of_user(user),
        verdict=data.verdict,
        label=data.label,
        comment=data.comment,
        model=data.model,
    ).to_dict()


@router.get("/review/configs/{name}", response_model=ReviewConfigRead)
def get_config(name: str, session: SessionDep, user: Viewer) -> dict[str, Any]:
    found = service.get_config(
        session, model=model_service.get_model(session, name=check_name(name, "model name"))
    )
    if found is None:
        raise NotFound(f"model '{name}' has no review configuration")
    return found.to_dict()


@router.put("/review/configs/{name}", response_model=ReviewConfigRead)
def set_config(name: str, data: ReviewConfigSet, session: SessionDep, user: Editor) -> dict[str, Any]:
    """Which of the model's records are reviewed from now on."""
    model = model_service.get_model(session, name=check_name(name, "model name"))
    return service.configure(
        session,
        model=model,
        share=data.share,
        uncertainty_threshold=data.uncertainty_threshold,
        actor=user.name,
    ).to_dict()
