"""Every ORM model, imported so that ``Base.metadata`` is complete (Alembic reads it)."""

from governance.audit.models import AuditEvent, AuditHead
from governance.dataset.models import Dataset, DatasetLineage, DatasetVersion
from governance.db import Base
from governance.license.models import License
from governance.mlmodel.models import Model, ModelDataset, ModelVersion, StageTransition

__all__ = [
    "AuditEvent",
    "AuditHead",
    "Base",
    "Dataset",
    "DatasetLineage",
    "DatasetVersion",
    "License",
    "Model",
    "ModelDataset",
    "ModelVersion",
    "StageTransition",
]
