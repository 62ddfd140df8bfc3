"""Users with a role, and their API keys (only a SHA-256 hash and a lookup prefix are stored)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.db import Base, utcnow

ROLES = ("viewer", "editor", "approver", "admin", "risk_officer", "business_owner", "reviewer")
# What each role may do: an approver reads and decides but does not register (separation of duties);
# an admin may do everything.
GRANTS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"viewer"}),
    "editor": frozenset({"viewer", "editor", "reviewer"}),
    "approver": frozenset({"viewer", "approver"}),
    "admin": frozenset(ROLES),
    # approval levels of the promotion policy (a model-risk officer, then the business owner)
    "risk_officer": frozenset({"viewer", "approver", "risk_officer"}),
    "business_owner": frozenset({"viewer", "approver", "business_owner"}),
    # human review of production decisions (governance.review): verdicts on queued records
    "reviewer": frozenset({"viewer", "reviewer"}),
}


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    disabled_at: Mapped[datetime | None] = mapped_column()

    keys: Mapped[list[ApiKey]] = relationship(back_populates="user", order_by="ApiKey.id")

    def has_role(self, role: str) -> bool:
        return role in GRANTS.get(self.role, frozenset())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "disabled_at": self.disabled_at.isoformat() if self.disabled_at else None,
        }


class ApiKey(Base):
    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship(back_populates="keys")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user": self.user.name,
            "prefix": self.prefix,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


class WebSession(Base):
    """A dashboards login: the cookie holds a random token, only its SHA-256 is stored here.

    It lasts until ``expires_at``, logout (``revoked_at``), or the revocation of the key it was
    opened with, whichever comes first.
    """

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()

    user: Mapped[User] = relationship()
    api_key: Mapped[ApiKey] = relationship()
