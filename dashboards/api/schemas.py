"""What the API returns: ``XRead`` schemas apart from the tables, so /openapi.json describes them.

Built from each row's ``to_dict()``; times are ISO strings there and datetimes here. The bounded
input types at the end (names, references, comments, JSON objects, identifiers) are what request
bodies and parameters are made of: the lengths match the columns, so /openapi.json states them and
a value that cannot be stored is a 422 before any service runs.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from governance.errors import InvalidInput
from governance.validation import MAX_INT, check_json


class LicenseRead(BaseModel):
    spdx_id: str
    name: str
    url: str | None
    kind: str
    commercial_use: bool
    derivatives: bool
    no_derivatives: bool
    share_alike: bool
    copyleft: str
    attribution: bool
    use_restrictions: list[str]
    notes: str | None
    builtin: bool


class DatasetRead(BaseModel):
    name: str
    version: str
    ref: str
    location: str
    source_path: str | None
    sha256: str
    format: str
    size_bytes: int
    rows: int
    columns: list[dict[str, Any]]
    label_column: str | None
    source: str | None
    license: str
    personal_data: str
    legal_basis: str | None
    jurisdictions: list[str]
    derived_from: list[str]
    registered_by: str
    created_at: datetime
    created: bool | None = None


class DatasetLink(BaseModel):
    dataset: str
    role: str


class ModelVersionRead(BaseModel):
    name: str
    version: str
    ref: str
    artifact_location: str
    source_path: str | None
    sha256: str
    size_bytes: int
    framework: str
    task: str | None
    license: str | None
    base_model: str | None
    datasets: list[DatasetLink]
    dependencies: list[dict[str, Any]]
    hyperparameters: dict[str, Any]
    seed: int | None
    metrics: dict[str, Any]
    mlflow_run_id: str | None
    intended_use: str
    intended_purpose: str | None = None
    risk_tier: str
    risk_assessed: str | None = None
    risk_reason: str | None = None
    stage: str
    description: str | None
    registered_by: str
    created_at: datetime
    created: bool | None = None


class StageChangeRead(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    version: str
    from_: str | None = Field(alias="from")
    to: str
    reason: str | None


class PromotionRead(BaseModel):
    model: str
    stage: str
    transitions: list[StageChangeRead]


class StageHistoryRead(StageChangeRead):
    actor: str
    at: datetime


class FindingRead(BaseModel):
    license: str | None
    property: str
    path: list[str]
    message: str


class ComplianceRead(BaseModel):
    model: str
    intended_use: str
    compliant: bool
    violations: list[FindingRead]
    obligations: list[FindingRead]
    warnings: list[FindingRead]
    attributions: list[dict[str, Any]]


class BatchRead(BaseModel):
    id: int
    model: str
    kind: str
    location: str
    source_path: str | None
    sha256: str
    rows: int
    time_min: datetime | None
    time_max: datetime | None
    columns: list[dict[str, Any]]
    registered_by: str
    created_at: datetime
    created: bool | None = None


class MonitorRead(BaseModel):
    id: int
    name: str
    model: str
    kind: str
    schedule: str
    window_seconds: int
    start_at: datetime
    thresholds: dict[str, Any]
    params: dict[str, Any]
    channels: list[dict[str, Any]]
    retrain_policy: dict[str, Any] | None
    catchup: str
    follows: bool = False  # True: follows the model's production version; False: pinned to ``model``
    label_delay_seconds: int = 0
    enabled: bool
    created_by: str
    created_at: datetime


class MonitorRunRead(BaseModel):
    id: int
    monitor: str
    monitor_id: int
    model: str | None = None  # NAME@VERSION the window was evaluated against
    window_start: datetime
    window_end: datetime
    status: str
    metrics: dict[str, Any]
    thresholds: dict[str, Any]
    details: dict[str, Any]
    rows: int | None
    duration_ms: int | None
    attempts: int
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None


class AlertRead(BaseModel):
    id: int
    monitor: str
    monitor_id: int
    model: str
    status: str
    severity: str
    message: str
    window_start: datetime
    window_end: datetime
    metrics: dict[str, Any]
    thresholds: dict[str, Any]
    breaches: int
    opened_at: datetime
    updated_at: datetime
    acknowledged_by: str | None
    resolved_at: datetime | None
    resolved_by: str | None
    resolution: str | None = None


class RetrainJobRead(BaseModel):
    id: int
    key: str
    model: str
    monitor: str | None
    window_start: datetime | None
    reason: str
    status: str
    params: dict[str, Any]
    attempts: int
    claimed_by: str | None
    result: dict[str, Any]
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class DecisionRead(BaseModel):
    approver: str
    approver_role: str | None = Field(description="The approver's role when they decided.")
    verification: str | None = Field(
        description="How the approver's identity was verified: api_key; null if recorded before checks."
    )
    approver_label: str
    decision: str
    level: int | None = None
    role: str | None = None
    comment: str | None
    at: datetime


class ApprovalRequestRead(BaseModel):
    id: int
    model: str
    risk_tier: str
    registered_by: str
    status: str
    required: int
    approved: int
    levels: list[str] = []
    policy_version: int | None = None
    requested_by: str
    comment: str | None
    created_at: datetime
    decided_at: datetime | None
    decisions: list[DecisionRead]


class AuditEventRead(BaseModel):
    """An event as stored; a value that no longer decodes is null and named in ``unreadable``."""

    id: int
    at: datetime | None
    actor: str | None
    action: str | None
    entity_type: str | None
    entity_id: str | None
    changes: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None
    hash_scheme: str | None = None
    unreadable: list[str] = []


class CheckpointRead(BaseModel):
    event_id: int
    events: int
    at: str
    signed: bool
    extends: bool


class ChainVerificationRead(BaseModel):
    ok: bool
    events: int
    first_bad_event: int | None
    reason: str | None
    head_hash: str | None
    scheme: str
    keyed_from: int | None
    key_set: bool
    note: str
    verified_from: int
    checkpoint: CheckpointRead | None = None


class UserRead(BaseModel):
    id: int
    name: str
    role: str
    created_by: str
    created_at: datetime
    disabled_at: datetime | None


class ApiKeyRead(BaseModel):
    id: int
    user: str
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str


# -- bounded inputs ---------------------------------------------------------------------------
MAX_TEXT = 10_000  # free text (comments, reasons, descriptions) stored in Text columns
MAX_REF = 128 + 1 + 64  # NAME@VERSION


def _plain_json(value: Any) -> Any:
    try:
        return check_json(value, "the value")
    except InvalidInput as exc:
        raise ValueError(str(exc)) from exc


class InputModel(BaseModel):
    """A request body: floats finite, unknown fields ignored as before."""

    model_config = ConfigDict(allow_inf_nan=False)


Name = Annotated[str, Field(min_length=1, max_length=128)]
Ref = Annotated[str, Field(min_length=3, max_length=MAX_REF, description="NAME@VERSION")]
Comment = Annotated[str, Field(max_length=MAX_TEXT)]
Short = Annotated[str, Field(min_length=1, max_length=128)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_plain_json)]
JsonList = Annotated[list[dict[str, Any]], AfterValidator(_plain_json)]
RowId = Annotated[int, Path(ge=1, le=MAX_INT, description="The row's id.")]


Status = Annotated[str, Query(max_length=16, description="Only items with this status.")]
RefList = Annotated[list[Annotated[str, Query(max_length=MAX_REF)]] | None, Query(max_length=64)]


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("a time zone is required (e.g. 2026-01-01T00:00:00Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("the time is out of range") from exc


UtcTime = Annotated[datetime, AfterValidator(_utc)]
