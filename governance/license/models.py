"""Licenses and the properties that decide what a model trained under them may be used for."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from governance.db import Base, utcnow

COPYLEFT_LEVELS = ("none", "weak", "strong", "network")
LICENSE_KINDS = ("data", "model", "software", "any")


class License(Base):
    __tablename__ = "licenses"

    id: Mapped[int] = mapped_column(primary_key=True)
    spdx_id: Mapped[str] = mapped_column(String(128), unique=True)
    name: Mapped[str] = mapped_column(String(256))
    url: Mapped[str | None] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16), default="any")
    commercial_use: Mapped[bool] = mapped_column(default=True)
    derivatives: Mapped[bool] = mapped_column(default=True)
    share_alike: Mapped[bool] = mapped_column(default=False)
    copyleft: Mapped[str] = mapped_column(String(16), default="none")
    attribution: Mapped[bool] = mapped_column(default=False)
    use_restrictions: Mapped[list[Any]] = mapped_column(default=list)
    notes: Mapped[str | None] = mapped_column(Text)
    builtin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def no_derivatives(self) -> bool:
        return not self.derivatives

    def to_dict(self) -> dict[str, Any]:
        return {
            "spdx_id": self.spdx_id,
            "name": self.name,
            "url": self.url,
            "kind": self.kind,
            "commercial_use": self.commercial_use,
            "derivatives": self.derivatives,
            "no_derivatives": self.no_derivatives,
            "share_alike": self.share_alike,
            "copyleft": self.copyleft,
            "attribution": self.attribution,
            "use_restrictions": list(self.use_restrictions or []),
            "notes": self.notes,
            "builtin": self.builtin,
        }
