"""The compliance dashboards: server-rendered pages under ``/`` and their static assets.

Pages need a viewer. ``/login`` takes an API key once and opens a server-side session; the
HttpOnly, SameSite=Strict cookie holds only that session's random token (the API accepts it as well
as ``Authorization: Bearer``, so the approval queue's buttons call the API itself), and ``/logout``
revokes it. An anonymous visitor is sent to the login page, and back to a path on this site only.
HTML made from data (the runs' Evidently reports) is served sandboxed: nothing in it runs.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlsplit

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from dashboards import lineage_svg, queries
from governance.api.deps import (
    SESSION_COOKIE,
    DatabaseDep,
    PolicyDep,
    SessionDep,
    SettingsDep,
    authorize,
    session_token,
)
from governance.api.metrics import REFUSALS
from governance.api.security import DATA_HTML_HEADERS
from governance.audit import service as audit_service
from governance.auth import sessions as session_service
from governance.auth.models import User
from governance.errors import InvalidInput, NotFound
from governance.mlmodel import service as model_service
from governance.monitoring import alerts as alert_service
from governance.monitoring.models import MonitorRun

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


class LoginRequired(Exception):
    """An anonymous page visit: answered with a redirect to the login page."""


def page_viewer(request: Request, session: SessionDep, db: DatabaseDep) -> User:
    try:
        return authorize(request, session, db, "viewer")
    except HTTPException as exc:
        if exc.status_code == 401:
            raise LoginRequired from exc
        raise


PageUser = Annotated[User, Depends(page_viewer)]


def _page(request: Request, name: str, user: User, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, **context})


_UNSAFE_IN_PATH = re.compile(r"[\\\x00-\x1f\x7f]")


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site (``/x``), else ``/``: never ``//host``, ``/\\host``,
    ``http://...`` or any of those percent-encoded (decoded repeatedly) or with control characters."""
    if not target or len(target) > 2000:
        return "/"
    decoded, previous = target, None
    for _ in range(5):
        parts = urlsplit(decoded)
        if (
            not decoded.startswith("/")
            or decoded.startswith("//")
            or _UNSAFE_IN_PATH.search(decoded)  # browsers read `/\host` as `//host`
            or parts.scheme
            or parts.netloc
        ):
            return "/"
        previous, decoded = decoded, unquote(decoded)
        if decoded == previous:
            return target
    return "/"  # still changing after five rounds of decoding: not a plain path


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"user": None, "next": safe_next(next)})


class Login(BaseModel):
    key: str


@router.post("/login")
def login(
    data: Login, request: Request, session: SessionDep, settings: SettingsDep, response: Response
) -> dict[str, Any]:
    lifetime = timedelta(hours=settings.session_hours)
    opened = session_service.open_session(session, api_key=data.key, lifetime=lifetime)
    if opened is None:
        REFUSALS.add("unknown_credentials")  # anonymous: counted, not audited
        raise HTTPException(status_code=401, detail="unknown or revoked API key")
    # Secure whenever the page came over HTTPS (behind a proxy: uvicorn's --proxy-headers).
    secure = request.url.scheme == "https"
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )
    user = opened.web_session.user
    return {"user": user.name, "role": user.role}


@router.post("/logout")
def logout(request: Request, session: SessionDep, response: Response) -> dict[str, Any]:
    """Revoke the session server-side (a copy of the cookie stops working) and drop the cookie."""
    token = session_token(request)
    if token:
        session_service.close_session(session, token=token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"ok": True}


@router.get("/", response_class=HTMLResponse)
def inventory(request: Request, session: SessionDep, user: PageUser, policy: PolicyDep) -> HTMLResponse:
    return _page(request, "inventory.html", user, rows=queries.inventory(session, policy))


@router.get("/models/{name}/{version}", response_class=HTMLResponse)
def model(
    name: str, version: str, request: Request, session: SessionDep, user: PageUser, policy: PolicyDep
) -> HTMLResponse:
    mv = model_service.get_version(session, name=name, version=version)
    data = queries.model_page(session, mv, policy)
    charts = {"drift": data["drift"], "robustness": data["robustness"]}
    return _page(
        request,
        "model.html",
        user,
        m=data,
        lineage_svg=lineage_svg.render(data["lineage"]),
        charts=charts,
    )


@router.get("/runs/{run_id}/report")
def run_report(run_id: int, request: Request, session: SessionDep, user: PageUser) -> FileResponse:
    """The Evidently HTML report of a monitor run: drawn on demand and cached (``app.state.run_reports``),
    or the file an older run saved under the storage root.

    It is made from data (column names, values), so it is served sandboxed: no script in it runs.
    """
    run = session.get(MonitorRun, run_id)
    details = (run.details or {}) if run is not None else {}
    path_text = details.get("report_path")  # runs stored before reports were drawn on demand
    drawer = getattr(request.app.state, "run_reports", None)
    if not path_text and isinstance(details.get("report"), dict) and drawer is not None:
        return FileResponse(drawer.path_for(run_id), media_type="text/html", headers=DATA_HTML_HEADERS)
    if not path_text:
        raise NotFound(f"monitor run {run_id} has no report")
    root = Path(request.app.state.settings.storage_root).resolve()
    path = Path(path_text).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise InvalidInput(f"the report of monitor run {run_id} is not a file under the storage root")
    return FileResponse(path, media_type="text/html", headers=DATA_HTML_HEADERS)


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, session: SessionDep, user: PageUser, status: str | None = None) -> HTMLResponse:
    rows = [a.to_dict() for a in alert_service.list_alerts(session, status=status, limit=500)]
    return _page(request, "alerts.html", user, rows=rows, status=status)


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    from governance.approval import service as approval_service

    pending = [r.to_dict() for r in approval_service.list_requests(session, status="pending", limit=500)]
    decided = [
        r.to_dict() for r in approval_service.list_requests(session, limit=50) if r.status != "pending"
    ]
    return _page(request, "approvals.html", user, pending=pending, decided=decided)


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request, session: SessionDep, user: PageUser, offset: int = 0, full: bool = False
) -> HTMLResponse:
    # verified from the last point this server verified (``full=1``: the whole chain)
    verification = audit_service.verify(session, incremental=not full)
    events = [e.to_dict() for e in audit_service.list_events(session, limit=100, offset=max(offset, 0))]
    return _page(
        request,
        "audit.html",
        user,
        events=events,
        verification=verification.to_dict(),
        total=audit_service.count_events(session),
        offset=max(offset, 0),
    )


async def _login_redirect(request: Request, exc: Exception) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(safe_next(request.url.path), safe='/')}", status_code=303)


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(LoginRequired, _login_redirect)
    app.include_router(router)
