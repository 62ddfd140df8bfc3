"""The license catalog."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from dashboards.api.deps import Admin, Page, PageDep, SessionDep, Viewer, page_of_query
from dashboards.api.schemas import LicenseRead
from governance.license import service
from governance.license.service import LicenseCreate

router = APIRouter(prefix="/licenses", tags=["licenses"])


@router.get("", response_model=Page[LicenseRead])
def list_licenses(session: SessionDep, user: Viewer, page: PageDep, kind: str | None = None) -> Page[Any]:
    return page_of_query(session, service.licenses_query(kind=kind), page, lambda x: x.to_dict())


@router.get("/{spdx_id}", response_model=LicenseRead)
def get_license(spdx_id: str, session: SessionDep, user: Viewer) -> dict[str, Any]:
    return service.get(session, spdx_id=spdx_id).to_dict()


@router.post("", status_code=201, response_model=LicenseRead)
def add_license(data: LicenseCreate, session: SessionDep, user: Admin) -> dict[str, Any]:
    return service.create(session, data=data, actor=user.name).to_dict()
