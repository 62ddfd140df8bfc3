"""Models, their immutable versions, training-data links and stage history."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from governance.dataset.models import DatasetVersion
from governance.db import STORED_FILE, Base, utcnow

STAGES = ("candidate", "staging", "production", "archived")
INTENDED_USES = ("commercial", "internal", "research")
RISK_TIERS = ("low", "medium", "high")
# What a model is for, in the terms of the EU AI Act (Annex III uses, and medical devices under
# Art. 6(1) with Annex I); the risk rules read it (governance.policy.risk).
INTENDED_PURPOSES = (
    "general",
    "medical",
    "biometric",
    "critical_infrastructure",
    "education",
    "employment",
    "credit_scoring",
    "insurance",
    "essential_services",
    "law_enforcement",
    "migration",
    "justice",
)
DATASET_ROLES = ("train", "validation", "test", "reference")


class Model(Base):
    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[ModelVersion]] = relationship(back_populates="model", order_by="ModelVersion.id")


class ModelVersion(Base):
    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("model_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    artifact_location: Mapped[str] = mapped_column(String(1024), info=STORED_FILE)
    source_path: Mapped[str | None] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    framework: Mapped[str] = mapped_column(String(32))
    task: Mapped[str | None] = mapped_column(String(64))
    license_expression: Mapped[str | None] = mapped_column(String(512))
    base_model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id"), index=True)
    dependencies: Mapped[list[Any]] = mapped_column(default=list)
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    seed: Mapped[int | None] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mlflow_run_id: Mapped[str | None] = mapped_column(String(64))
    intended_use: Mapped[str] = mapped_column(String(16))
    risk_tier: Mapped[str] = mapped_column(String(8), default="low", index=True)
    intended_purpose: Mapped[str | None] = mapped_column(String(32))
    risk_assessed: Mapped[str | None] = mapped_column(String(8))  # what the rules alone say
    risk_reason: Mapped[str | None] = mapped_column(Text)  # why the tier is what it is
    stage: Mapped[str] = mapped_column(String(16), default="candidate", index=True)
    description: Mapped[str | None] = mapped_column(Text)
    registered_by: Mapped[str] = mapped_column(String(128), index=True)  # the inventory's owner filter
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    model: Mapped[Model] = relationship(back_populates="versions")
    base_model: Mapped[ModelVersion | None] = relationship(remote_side="ModelVersion.id")
    datasets: Mapped[list[ModelDataset]] = relationship(
        back_populates="model_version", order_by="ModelDataset.id", cascade="all, delete-orphan"
    )

    @property
    def ref(self) -> str:
        return f"{self.model.name}@{self.version}"

    def reference_dataset(self, formats: tuple[str, ...] | None = None) -> DatasetVersion | None:
        """What this version is compared against: its reference dataset, else its training dataset
        (only those of ``formats``, when given); None when it names neither."""
        for role in ("reference", "train"):
            for link in self.datasets:
                if link.role == role and (formats is None or link.dataset_version.format in formats):
                    return link.dataset_version
        return None

    def to_dict(self) -> dict[str, Any]:
        return version_dict(
            lambda column: getattr(self, column),
            name=self.model.name,
            base_model=self.base_model.ref if self.base_model is not None else None,
            datasets=[{"dataset": link.dataset_version.ref, "role": link.role} for link in self.datasets],
        )


def version_dict(
    column: Callable[[str], Any], *, name: str, base_model: str | None, datasets: list[dict[str, str]]
) -> dict[str, Any]:
    """A version as the API and the CLI show it. ``column`` reads a column of ``model_versions`` by
    its attribute name, from an ORM object or from a row (the lists read rows): both give this dict."""
    return {
        "name": name,
        "version": column("version"),
        "ref": f"{name}@{column('version')}",
        "artifact_location": column("artifact_location"),
        "source_path": column("source_path"),
        "sha256": column("sha256"),
        "size_bytes": column("size_bytes"),
        "framework": column("framework"),
        "task": column("task"),
        "license": column("license_expression"),
        "base_model": base_model,
        "datasets": datasets,
        "dependencies": column("dependencies"),
        "hyperparameters": column("hyperparameters"),
        "seed": column("seed"),
        "metrics": column("metrics"),
        "mlflow_run_id": column("mlflow_run_id"),
        "intended_use": column("intended_use"),
        "intended_purpose": column("intended_purpose"),
        "risk_tier": column("risk_tier"),
        "risk_assessed": column("risk_assessed"),
        "risk_reason": column("risk_reason"),
        "stage": column("stage"),
        "description": column("description"),
        "registered_by": column("registered_by"),
        "created_at": column("created_at").isoformat(),
    }


class ModelDataset(Base):
    """A dataset version a model version was trained, validated or tested on."""

    __tablename__ = "model_datasets"
    __table_args__ = (UniqueConstraint("model_version_id", "dataset_version_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    model_version: Mapped[ModelVersion] = relationship(back_populates="datasets")
    dataset_version: Mapped[DatasetVersion] = relationship()


class StageTransition(Base):
    """Every stage change of a model version, so any past moment can be answered."""

    __tablename__ = "stage_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(16))
    to_stage: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    policy_version: Mapped[int | None] = mapped_column()  # the promotion policy a move to production passed

    model_version: Mapped[ModelVersion] = relationship()
