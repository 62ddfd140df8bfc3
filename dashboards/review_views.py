"""The review queue pages: ``/review`` (the queue, filtered and paged in SQL) and ``/review/{id}``
(one record: inputs, prediction, probability, what the model relies on, and the verdict form).

The form posts to the API (``/api/v1/review/{id}/verdict``) with the page's session cookie, as the
approval queue does: same-origin only (SameSite=Strict, cross-site writes refused by the security
middleware), and the service decides who may record a verdict. Every value from the records
(column names included) is rendered as text by Jinja2's autoescaping.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from dashboards.api.deps import SessionDep
from dashboards.views import PageUser, _page
from governance.errors import InvalidInput
from governance.mlmodel.models import Model
from governance.review import evidence, service
from governance.review.models import ITEM_STATUSES, REASONS, ReviewItem

router = APIRouter(include_in_schema=False)
PAGE = 50


def _filters(request: Request) -> dict[str, Any]:
    params = request.query_params
    status = params.get("status", "open") or None
    reason = params.get("reason") or None
    model = params.get("model") or None
    offset_text = params.get("offset") or "0"
    if not offset_text.isdigit() or int(offset_text) > 2**31 - 1:
        raise InvalidInput(f"offset '{offset_text[:20]}' is not a row number")
    if status is not None and status not in ITEM_STATUSES:
        raise InvalidInput(f"status '{status[:20]}' is not one of {', '.join(ITEM_STATUSES)}")
    if reason is not None and reason not in REASONS:
        raise InvalidInput(f"reason '{reason[:20]}' is not one of {', '.join(REASONS)}")
    return {"model": model, "status": status, "reason": reason, "offset": int(offset_text)}


def _models(session: SessionDep) -> list[str]:
    return list(
        session.scalars(select(Model.name).where(Model.id.in_(select(ReviewItem.model_id).distinct())))
    )


@router.get("/review", response_class=HTMLResponse)
def queue(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    models = _models(session)
    try:
        f = _filters(request)
    except InvalidInput as exc:
        empty = {"model": None, "status": "open", "reason": None, "offset": 0}
        context = {"f": empty, "problem": str(exc), "items": [], "total": 0}
        return _page(request, "review.html", user, 400, models=models, reasons=REASONS, **context)
    model_id = session.scalar(select(Model.id).where(Model.name == f["model"])) if f["model"] else None
    query = service.items_query(model_id=model_id, status=f["status"], reason=f["reason"])
    if f["model"] and model_id is None:
        query = query.where(ReviewItem.id.is_(None))  # a model with nothing queued: an empty page
    total = int(session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0)
    items = [i.to_dict() for i in session.scalars(query.limit(PAGE).offset(f["offset"])).unique()]
    return _page(
        request,
        "review.html",
        user,
        f=f,
        problem=None,
        items=items,
        total=total,
        page_size=PAGE,
        models=models,
        reasons=REASONS,
    )


@router.get("/review/{item_id}", response_class=HTMLResponse)
def item(item_id: int, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    found = service.get(session, item_id=item_id)
    data = found.to_dict()
    classes = sorted(data["probabilities"] or {})
    return _page(
        request,
        "review_item.html",
        user,
        item=data,
        classes=classes,
        explanation=evidence.explanation(session, item=found),
        may_review=user.has_role("reviewer"),
    )
