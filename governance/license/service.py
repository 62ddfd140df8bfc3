"""License catalog: list, look up, add; every addition is an audit event."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from governance.audit import service as audit_service
from governance.errors import Conflict, InvalidInput, NotFound
from governance.license.expression import normalize
from governance.license.models import COPYLEFT_LEVELS, LICENSE_KINDS, License


class LicenseCreate(BaseModel):
    spdx_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9.+\-]*$")
    name: str = Field(min_length=1, max_length=256)
    url: str | None = Field(default=None, max_length=512)
    kind: str = "any"
    commercial_use: bool = True
    derivatives: bool = True
    share_alike: bool = False
    copyleft: str = "none"
    attribution: bool = False
    use_restrictions: list[str] = Field(default_factory=list)
    notes: str | None = Field(default=None, max_length=10_000)

    @field_validator("kind")
    @classmethod
    def _kind(cls, value: str) -> str:
        if value not in LICENSE_KINDS:
            raise ValueError(f"kind must be one of {', '.join(LICENSE_KINDS)}")
        return value

    @field_validator("copyleft")
    @classmethod
    def _copyleft(cls, value: str) -> str:
        if value not in COPYLEFT_LEVELS:
            raise ValueError(f"copyleft must be one of {', '.join(COPYLEFT_LEVELS)}")
        return value


def catalog_keys(session: Session) -> list[str]:
    return list(session.scalars(select(License.spdx_id)))


def catalog(session: Session) -> dict[str, License]:
    return {lic.spdx_id: lic for lic in session.scalars(select(License))}


def licenses_query(*, kind: str | None = None) -> Select[License]:
    query = select(License).order_by(License.spdx_id)
    if kind is not None:
        query = query.where(License.kind.in_([kind, "any"]))
    return query


def list_licenses(session: Session, *, kind: str | None = None) -> list[License]:
    return list(session.scalars(licenses_query(kind=kind)))


def get(session: Session, *, spdx_id: str) -> License:
    found = session.scalar(select(License).where(func.lower(License.spdx_id) == spdx_id.strip().lower()))
    if found is None:
        raise NotFound(f"license '{spdx_id}' is not in the catalog")
    return found


def normalize_expression(session: Session, expression: str) -> str:
    return normalize(expression, catalog_keys(session))


def create(session: Session, *, data: LicenseCreate, actor: str) -> License:
    existing = session.scalar(select(License).where(func.lower(License.spdx_id) == data.spdx_id.lower()))
    if existing is not None:
        raise Conflict(f"license '{existing.spdx_id}' is already in the catalog")
    if data.copyleft != "none" and not data.share_alike:
        raise InvalidInput(f"license '{data.spdx_id}' has copyleft '{data.copyleft}' but is not share-alike")
    lic = License(**data.model_dump(), builtin=False)
    session.add(lic)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action="license.add",
        entity_type="license",
        entity_id=lic.spdx_id,
        changes=lic.to_dict(),
    )
    return lic


def describe(lic: License) -> dict[str, Any]:
    return lic.to_dict()
