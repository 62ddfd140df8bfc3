"""Dependencies shared by every route: the request's session and transaction, the caller, pages.

The request owns the transaction: ``SessionDep`` yields a session inside ``session.begin()`` that
commits when the route returns and rolls back when it raises. A refused request rolls its own
transaction back; a known user's refusal (403) writes one ``auth.denied`` audit event in a small
transaction apart, an anonymous one (401) is only counted in ``/metrics``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, HTTPException, Query, Request
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from dashboards.api.metrics import REFUSALS
from governance.approval.service import ApprovalPolicy
from governance.audit import service as audit_service
from governance.auth import principal as principals
from governance.auth import service as auth_service
from governance.auth import sessions as session_service
from governance.auth.models import User
from governance.auth.principal import Principal
from governance.db import Database
from governance.errors import PermissionDenied
from governance.settings import Settings

T = TypeVar("T")
SESSION_COOKIE = "govern_session"
MAX_LIMIT = 500
MAX_OFFSET = 2**31 - 1


# Dependencies that do no I/O are ``async def``: FastAPI runs a plain ``def`` dependency in its
# thread pool, and each such hop costs more than the work here (issue 15).
async def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DatabaseDep = Annotated[Database, Depends(get_db)]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(db: DatabaseDep) -> Iterator[Session]:
    with db.transaction() as session:
        yield session


# scope="function": commit (or roll back) before the response is sent, so a failed commit is an error.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


async def approval_policy(settings: SettingsDep) -> ApprovalPolicy:
    return ApprovalPolicy.of(settings)


PolicyDep = Annotated[ApprovalPolicy, Depends(approval_policy)]


def presented_key(request: Request) -> str | None:
    """The API key from ``Authorization: Bearer KEY`` (the only way a key is presented)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def session_token(request: Request) -> str | None:
    """The dashboards' session token from its cookie (a session, never a key; see ``auth.sessions``)."""
    return request.cookies.get(SESSION_COOKIE) or None


def record_denial(db: Database, request: Request, *, status: int, actor: str, reason: str, role: str) -> None:
    """The ``auth.denied`` audit event of a refused request, in its own transaction."""
    with db.transaction() as session:
        audit_service.record(
            session,
            actor=actor,
            action="auth.denied",
            entity_type="request",
            entity_id=f"{request.method} {request.url.path}"[:256],
            changes={"status": status, "reason": reason, "role_needed": role},
        )


def authorize(request: Request, session: Session, db: Database, role: str) -> User:
    """The caller if their key's (or session's) role grants ``role``; else refuse with 401 or 403.

    A caller with no live credentials is anonymous: counted in ``/metrics``, not audited, so a flood
    of anonymous requests writes nothing. A known user lacking the role is audited (``auth.denied``).
    """
    key = presented_key(request)
    token = None if key else session_token(request)
    api_key = auth_service.live_key(session, plaintext=key) if key else None
    if key:
        user = api_key.user if api_key is not None else None
    else:
        user = session_service.authenticate(session, token=token) if token else None
    if user is None:
        presented = bool(key or token)
        REFUSALS.add("unknown_credentials" if presented else "no_credentials")
        reason = "unknown or revoked API key or session" if presented else "no API key"
        raise HTTPException(
            status_code=401,
            detail=f"{reason}: send `Authorization: Bearer KEY`",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not user.has_role(role):
        name, has = user.name, user.role
        record_denial(db, request, status=403, actor=name, reason=f"role {has} lacks {role}", role=role)
        raise PermissionDenied(f"{name} is a {has} and this needs the {role} role")
    if api_key is not None:
        auth_service.mark_used(api_key)  # only a caller let in: a refused one writes nothing here
    principals.bind(session, Principal.of_user(user))  # the request's audit events say "API key"
    return user


def require(role: str) -> Callable[..., User]:
    """A dependency that lets in callers whose role grants ``role`` and refuses everyone else."""

    def dependency(request: Request, session: SessionDep, db: DatabaseDep) -> User:
        return authorize(request, session, db, role)

    dependency.__name__ = f"require_{role}"
    return dependency


Viewer = Annotated[User, Depends(require("viewer"))]
Editor = Annotated[User, Depends(require("editor"))]
Approver = Annotated[User, Depends(require("approver"))]
Admin = Annotated[User, Depends(require("admin"))]


class Page(BaseModel, Generic[T]):
    """One page of a list: ``items`` from ``offset``, at most ``limit`` of ``total``."""

    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams(BaseModel):
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


def page_of_query(
    session: Session, query: Select[Any], params: PageParams, to_dict: Callable[[Any], dict[str, Any]]
) -> Page[Any]:
    """One page of ``query``: ``limit``/``offset`` and ``total`` (``count(*)``) both in SQL."""
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = session.scalars(query.limit(params.limit).offset(params.offset)).unique().all()
    return Page(items=[to_dict(r) for r in rows], total=int(total), limit=params.limit, offset=params.offset)
