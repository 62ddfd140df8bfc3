"""Every ORM model, imported so that ``Base.metadata`` is complete (Alembic reads it)."""

from governance.approval.models import Approval, ApprovalRequest
from governance.audit.models import AuditEvent, AuditHead
from governance.auth.models import ApiKey, User, WebSession
from governance.changeplan.models import ChangePlan, ChangePlanCheck
from governance.compliance.models import ComplianceResult
from governance.dataset.models import Dataset, DatasetLineage, DatasetVersion
from governance.db import Base
from governance.explanation.models import ModelExplanation
from governance.license.models import License
from governance.mlmodel.models import Model, ModelDataset, ModelVersion, StageTransition
from governance.monitoring.models import Alert, AlertDelivery, Monitor, MonitorRun, RetrainJob
from governance.policy.models import PolicyVersion, RiskChange, RobustnessRecord
from governance.production.models import InferenceBatch
from governance.review.models import ReviewConfig, ReviewItem

__all__ = [
    "Alert",
    "AlertDelivery",
    "ApiKey",
    "Approval",
    "ApprovalRequest",
    "AuditEvent",
    "AuditHead",
    "Base",
    "ChangePlan",
    "ChangePlanCheck",
    "ComplianceResult",
    "Dataset",
    "DatasetLineage",
    "DatasetVersion",
    "InferenceBatch",
    "License",
    "Model",
    "ModelDataset",
    "ModelExplanation",
    "ModelVersion",
    "Monitor",
    "MonitorRun",
    "PolicyVersion",
    "RetrainJob",
    "ReviewConfig",
    "ReviewItem",
    "RiskChange",
    "RobustnessRecord",
    "StageTransition",
    "User",
    "WebSession",
]
