"""Liveness and the Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy import text

from dashboards.api import metrics
from dashboards.api.deps import DatabaseDep, SessionDep, Viewer
from governance.errors import Unavailable
from governance.migrate import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(db: DatabaseDep) -> dict[str, Any]:
    """Open to everyone: whether the database answers and its schema is current."""
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        revision = current_revision(db.engine)
    except Exception as exc:
        raise Unavailable(f"the database does not answer: {type(exc).__name__}") from exc
    return {"status": "ok", "schema": revision, "schema_current": revision == head_revision()}


@router.get("/metrics", response_class=Response)
def prometheus(request: Request, session: SessionDep, user: Viewer) -> Response:
    """Latest monitor metrics per model and monitor, active alerts and job counts (needs a viewer key)."""
    page_cache = request.app.state.page_cache.counts()
    return Response(metrics.exposition(session, page_cache), media_type=metrics.CONTENT_TYPE)
