"""The audit log: append-only events chained by SHA-256 or, under ``GOVERN_AUDIT_KEY``, HMAC-SHA256."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base, utcnow


class AuditEvent(Base):
    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(256), index=True)
    changes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # "sha256" or "hmac-sha256" (see governance.audit.hashing): how ``hash`` was computed
    hash_scheme: Mapped[str] = mapped_column(String(16), default="sha256", server_default="sha256")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "changes": self.changes,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "hash_scheme": self.hash_scheme,
        }


class AuditHead(Base):
    """The chain's last event, kept apart so a deleted tail event is noticed too."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    event_id: Mapped[int] = mapped_column()
    hash: Mapped[str] = mapped_column(String(64))
