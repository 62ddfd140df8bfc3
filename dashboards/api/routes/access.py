"""Users and API keys (admin), and who the caller is."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter

from dashboards.api.deps import Admin, Page, PageDep, SessionDep, Viewer, page_of_query
from dashboards.api.schemas import ApiKeyCreated, ApiKeyRead, InputModel, Name, UserRead
from governance.auth import service

router = APIRouter(tags=["access"])


class UserCreate(InputModel):
    name: Name
    role: Literal["viewer", "editor", "approver", "admin", "risk_officer", "business_owner", "reviewer"]


@router.get("/me", response_model=UserRead)
def whoami(user: Viewer) -> dict[str, Any]:
    return user.to_dict()


@router.get("/users", response_model=Page[UserRead])
def list_users(session: SessionDep, user: Admin, page: PageDep) -> Page[Any]:
    return page_of_query(session, service.users_query(), page, lambda u: u.to_dict())


@router.post("/users", status_code=201, response_model=UserRead)
def add_user(data: UserCreate, session: SessionDep, user: Admin) -> dict[str, Any]:
    return service.create_user(session, name=data.name, role=data.role, actor=user.name).to_dict()


@router.get("/keys", response_model=Page[ApiKeyRead])
def list_keys(session: SessionDep, user: Admin, page: PageDep) -> Page[Any]:
    return page_of_query(session, service.keys_query(), page, lambda k: k.to_dict())


@router.post("/users/{name}/keys", status_code=201, response_model=ApiKeyCreated)
def create_key(name: str, session: SessionDep, user: Admin) -> dict[str, Any]:
    """A new key for user NAME; the key is in this response only."""
    created = service.create_key(session, user=service.get_user(session, name=name), actor=user.name)
    return {**created.key.to_dict(), "key": created.plaintext}


@router.post("/keys/{prefix}/revoke", response_model=ApiKeyRead)
def revoke_key(prefix: str, session: SessionDep, user: Admin) -> dict[str, Any]:
    return service.revoke_key(session, prefix=prefix, actor=user.name).to_dict()
