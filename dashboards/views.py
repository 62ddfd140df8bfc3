"""The compliance dashboards: server-rendered pages under ``/`` and their static assets.

Pages need a viewer. ``/login`` takes an API key once and opens a server-side session; the
HttpOnly, SameSite=Strict cookie holds only that session's random token (the API accepts it as well
as ``Authorization: Bearer``, so the approval queue's buttons call the API itself), and ``/logout``
revokes it. An anonymous visitor is sent to the login page, and back to a path on this site only.
HTML made from data (the runs' Evidently reports) is served sandboxed: nothing in it runs.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.exceptions import HTTPException as StarletteHTTPException

from dashboards import inventory as inventory_query
from dashboards import lineage_svg, queries, queues
from dashboards.api.deps import (
    SESSION_COOKIE,
    DatabaseDep,
    PolicyDep,
    SessionDep,
    SettingsDep,
    authorize,
    session_token,
)
from dashboards.api.metrics import REFUSALS
from dashboards.api.page_cache import PageCache
from dashboards.api.schemas import RowId
from dashboards.api.security import FRAMED_DATA_HTML_HEADERS
from governance.audit import service as audit_service
from governance.auth import sessions as session_service
from governance.auth.models import User
from governance.errors import GovernError, InvalidInput, NotFound
from governance.mlmodel import service as model_service
from governance.mlmodel.models import RISK_TIERS, STAGES
from governance.monitoring.models import MonitorRun
from governance.storage import Storage

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def with_params(request: Request, **change: Any) -> str:
    """The page's query string with ``change`` applied (empty values dropped): pager and sort links."""
    values = dict(request.query_params)
    values.update({k: str(v) for k, v in change.items()})
    return urlencode({k: v for k, v in values.items() if v not in ("", "0") or k not in change})


templates.env.globals["with_params"] = with_params


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


def _page(
    request: Request, name: str, user: User | None, status_code: int = 200, **context: Any
) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, **context}, status_code=status_code)


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


def _inventory_filters(request: Request) -> inventory_query.Filters:
    names = ("q", "stage", "risk", "compliance", "monitor", "owner", "sort", "desc", "page", "per_page")
    return inventory_query.parse_filters(**{n: request.query_params.get(n) for n in names})


@router.get("/", response_class=HTMLResponse)
def inventory(request: Request, session: SessionDep, user: PageUser, policy: PolicyDep) -> Response:
    """The inventory; served again from the process's page cache while no commit changed the data."""

    def build() -> Response:
        try:
            filters = _inventory_filters(request)
        except InvalidInput as exc:
            return _page(
                request, "inventory.html", user, status_code=400, problem=str(exc),
                f=inventory_query.Filters(), listing=None, **_inventory_choices(session),
            )  # fmt: skip
        listing = inventory_query.listing(session, policy, filters)
        return _page(
            request,
            "inventory.html",
            user,
            f=filters,
            listing=listing,
            problem=None,
            **_inventory_choices(session),
        )

    cache: PageCache = request.app.state.page_cache
    return cache.serve(request, session, user, build)


def _inventory_choices(session: Session) -> dict[str, Any]:
    return {
        "stages": STAGES,
        "risks": RISK_TIERS,
        "compliances": inventory_query.COMPLIANCE,
        "monitor_states": inventory_query.STATE_LABELS,
        "owners": queries.owners(session),
        "sorts": inventory_query.SORTS,
    }


@router.get("/inventory.csv")
def inventory_csv(request: Request, session: SessionDep, user: PageUser, policy: PolicyDep) -> Response:
    """Every version the filters match (all pages), as CSV a spreadsheet reads as text."""
    text = inventory_query.to_csv(session, policy, _inventory_filters(request))
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="model-inventory.csv"'},
    )


@router.get("/models/{name}/{version}", response_class=HTMLResponse)
def model(
    name: str,
    version: str,
    request: Request,
    session: SessionDep,
    user: PageUser,
    policy: PolicyDep,
    settings: SettingsDep,
) -> HTMLResponse:
    mv = model_service.get_version(session, name=name, version=version)
    data = queries.model_page(session, mv, policy, mlflow_uri=settings.mlflow_uri)
    charts = {"charts": data["charts"], "robustness": data["robustness"]}
    return _page(
        request,
        "model.html",
        user,
        m=data,
        lineage_svg=lineage_svg.render(data["lineage"]),
        charts=charts,
    )


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: RowId, request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    """A monitor run framed by the app: what was judged (model, version, monitor, window, status),
    a way back to the model's page, and its report in a sandboxed frame (``/runs/ID/report``,
    served under ``CSP: sandbox``: nothing from the data runs, in the frame or here)."""
    run = session.get(MonitorRun, run_id)
    if run is None:
        raise NotFound(f"there is no monitor run {run_id}")
    return _page(request, "run.html", user, run=queries.run_frame(run))


@router.get("/runs/{run_id}/report")
def run_report(run_id: RowId, request: Request, session: SessionDep, user: PageUser) -> Response:
    """The Evidently HTML report of a monitor run: drawn on demand and cached (``app.state.run_reports``),
    or the file an older run saved under the storage root.

    It is made from data (column names, values), so it is served sandboxed: no script in it runs.
    """
    run = session.get(MonitorRun, run_id)
    details = (run.details or {}) if run is not None else {}
    path_text = details.get("report_path")  # runs stored before reports were drawn on demand
    drawer = getattr(request.app.state, "run_reports", None)
    if not path_text and isinstance(details.get("report"), dict) and drawer is not None:
        return Response(drawer.html(run_id), media_type="text/html", headers=FRAMED_DATA_HTML_HEADERS)
    if not path_text:
        raise NotFound(f"monitor run {run_id} has no report")
    storage = Storage(request.app.state.settings.storage_root)
    if not isinstance(path_text, str) or not storage.contains(path_text) or not storage.exists(path_text):
        raise InvalidInput(f"the report of monitor run {run_id} is not a file under the storage root")
    return Response(storage.read_bytes(path_text), media_type="text/html", headers=FRAMED_DATA_HTML_HEADERS)


def _params(request: Request, *names: str) -> dict[str, str | None]:
    return {n: request.query_params.get(n) for n in names}


@router.get("/alerts", response_class=HTMLResponse)
def alerts(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    choices = queues.alert_choices(session)
    try:
        f = queues.alert_filters(_params(request, "model", "monitor", "severity", "status", "offset"))
    except InvalidInput as exc:
        empty = {"model": None, "monitor": None, "severity": None, "status": None, "offset": 0}
        return _page(request, "alerts.html", user, 400, f=empty, problem=str(exc), found=None, **choices)
    return _page(request, "alerts.html", user, f=f, problem=None, found=queues.alerts(session, f), **choices)


@router.get("/approvals", response_class=HTMLResponse)
def approvals(request: Request, session: SessionDep, user: PageUser) -> HTMLResponse:
    from governance.approval import service as approval_service

    pending = []
    for r in approval_service.list_requests(session, status="pending", limit=200):
        pending.append({**r.to_dict(), "evidence": queues.evidence(session, r.model_version)})
    decided = [
        {**r.to_dict(), "state": queues.approval_state(r)}
        for r in approval_service.list_requests(session, limit=100)
        if r.status != "pending"
    ][:50]
    return _page(
        request,
        "approvals.html",
        user,
        pending=pending,
        decided=decided,
        counts=queues.approval_counts(session),
    )


@router.get("/approvals/counts")
def approval_counts(session: SessionDep, user: PageUser) -> dict[str, int]:
    """The queue's counts, for the page to refresh without a reload."""
    return queues.approval_counts(session)


@router.get("/audit", response_class=HTMLResponse)
def audit(request: Request, session: SessionDep, user: PageUser, full: bool = False) -> HTMLResponse:
    # verified from the last point this server verified (``full=1``: the whole chain)
    verification = audit_service.verify(session, incremental=not full)
    actions = queues.audit_actions(session)
    problem: str | None = None
    found: dict[str, Any] | None = None
    try:
        f = queues.audit_filters(_params(request, "entity", "action", "offset"))
    except InvalidInput as exc:
        f, problem, found = {"entity": None, "action": None, "offset": 0}, str(exc), None
    else:
        problem, found = None, queues.audit(session, f)
    return _page(
        request,
        "audit.html",
        user,
        400 if problem else 200,
        f=f,
        problem=problem,
        found=found,
        actions=actions,
        page_size=queues.PAGE,
        verification=verification.to_dict(),
    )


async def _login_redirect(request: Request, exc: Exception) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(safe_next(request.url.path), safe='/')}", status_code=303)


ERROR_TITLES = {400: "Bad request", 404: "Not found", 409: "Conflict", 422: "Invalid input"}


def _is_page(request: Request) -> bool:
    """A browser asking for a page (not the API, not a static file, not a script's JSON call)."""
    path = request.url.path
    if path.startswith(("/api/", "/static/")) or path in ("/metrics", "/healthz", "/openapi.json"):
        return False
    return request.method in ("GET", "HEAD") and "text/html" in request.headers.get("accept", "")


def _html_errors(app: FastAPI) -> None:
    """Errors on page routes answer as pages (a 404 that says what is missing), the API's as JSON."""
    for kind in (GovernError, StarletteHTTPException):
        json_handler = app.exception_handlers[kind]

        async def handler(request: Request, exc: Exception, _json: Any = json_handler) -> Response:
            response: Response = await _json(request, exc)
            if not _is_page(request) or response.status_code not in ERROR_TITLES:
                return response
            message = json.loads(bytes(response.body))["error"]["message"]
            if response.status_code == 404 and message == "Not Found":
                message = f"There is no page at {request.url.path}."
            title = ERROR_TITLES[response.status_code]
            context = {"user": None, "title": title, "message": message}
            return templates.TemplateResponse(
                request, "error.html", context, status_code=response.status_code
            )

        app.add_exception_handler(kind, handler)


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.add_exception_handler(LoginRequired, _login_redirect)
    _html_errors(app)
    app.include_router(router)
    from dashboards import review_views  # the review queue's pages (they import this module)

    app.include_router(review_views.router)
