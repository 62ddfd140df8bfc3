"""Production data: batches of inference records and late labels, stored as Parquet files."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.db import STORED_FILE, Base, utcnow
from governance.mlmodel.models import ModelVersion

BATCH_KINDS = ("predictions", "labels")


class InferenceBatch(Base):
    __tablename__ = "inference_batches"
    __table_args__ = (
        UniqueConstraint("model_version_id", "kind", "sha256"),
        Index("ix_inference_batches_records_key", "model_version_id", "kind", "records_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    location: Mapped[str] = mapped_column(String(1024), info=STORED_FILE)
    source_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(BigInteger)
    time_min: Mapped[datetime | None] = mapped_column(index=True)
    time_max: Mapped[datetime | None] = mapped_column(index=True)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    # Records sent over the API: a hash of the request ids, so a retried request is a no-op.
    records_key: Mapped[str | None] = mapped_column(String(64))
    registered_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model_version: Mapped[ModelVersion] = relationship()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model_version.ref,
            "kind": self.kind,
            "location": self.location,
            "source_path": self.source_path,
            "sha256": self.sha256,
            "rows": self.rows,
            "time_min": self.time_min.isoformat() if self.time_min else None,
            "time_max": self.time_max.isoformat() if self.time_max else None,
            "columns": self.columns,
            "registered_by": self.registered_by,
            "created_at": self.created_at.isoformat(),
        }
