"""Datasets and their immutable, content-addressed versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.db import STORED_FILE, Base, utcnow

# the classes of data about people (the personal-data checks apply to these), and "none"
PERSONAL_CLASSES = ("pseudonymous", "personal", "sensitive")
PERSONAL_DATA_CLASSES = ("none", *PERSONAL_CLASSES)
DATASET_FORMATS = ("csv", "parquet", "npz")


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.id"
    )


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    location: Mapped[str] = mapped_column(String(1024), info=STORED_FILE)
    source_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    format: Mapped[str] = mapped_column(String(16))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    rows: Mapped[int] = mapped_column(BigInteger)
    columns: Mapped[list[Any]] = mapped_column(default=list)
    label_column: Mapped[str | None] = mapped_column(String(256))
    source: Mapped[str | None] = mapped_column(Text)
    license_expression: Mapped[str] = mapped_column(String(512))
    personal_data: Mapped[str] = mapped_column(String(16), default="none")
    legal_basis: Mapped[str | None] = mapped_column(String(256))
    jurisdictions: Mapped[list[Any]] = mapped_column(default=list)
    quality_report: Mapped[dict[str, Any] | None] = mapped_column()
    registered_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    dataset: Mapped[Dataset] = relationship(back_populates="versions")
    parents: Mapped[list[DatasetVersion]] = relationship(
        secondary="dataset_lineage",
        primaryjoin="DatasetVersion.id == DatasetLineage.child_id",
        secondaryjoin="DatasetVersion.id == DatasetLineage.parent_id",
        order_by="DatasetVersion.id",
    )

    @property
    def ref(self) -> str:
        return f"{self.dataset.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.dataset.name,
            "version": self.version,
            "ref": self.ref,
            "location": self.location,
            "source_path": self.source_path,
            "sha256": self.sha256,
            "format": self.format,
            "size_bytes": self.size_bytes,
            "rows": self.rows,
            "quality": self.quality_report,
            "columns": self.columns,
            "label_column": self.label_column,
            "source": self.source,
            "license": self.license_expression,
            "personal_data": self.personal_data,
            "legal_basis": self.legal_basis,
            "jurisdictions": list(self.jurisdictions or []),
            "derived_from": [parent.ref for parent in self.parents],
            "registered_by": self.registered_by,
            "created_at": self.created_at.isoformat(),
        }


class DatasetLineage(Base):
    """A dataset version derived from others (e.g. a retraining set built from a reference set)."""

    __tablename__ = "dataset_lineage"

    child_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), primary_key=True)
    parent_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), primary_key=True)
