"""The one settings object: environment variables with the ``GOVERN_`` prefix.

Read once at an entry point (CLI, API, scheduler) and passed down; nothing deeper reads the
environment.
"""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers): still name somebody
        return "unknown"


class Settings(BaseSettings):
    """Platform settings; every field is ``GOVERN_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="GOVERN_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///govern.db",
        description="SQLAlchemy URL of the registry database (SQLite file or PostgreSQL).",
    )
    storage_root: Path | str = Field(
        default=Path("govern-storage"),
        description="Folder where registered artifacts, datasets, production batches, profiles and reports "
        "are kept, or the fsspec URL of one (s3://bucket/prefix, gs://..., memory://...; file:// is local).",
    )
    actor: str = Field(
        default_factory=_default_actor,
        description="Who the CLI records as the actor of audit events.",
    )
    api_key: SecretStr | None = Field(
        default=None,
        description=(
            "The acting user's API key on the CLI (verified against its stored hash; the actor is then "
            "the key's user, whatever GOVERN_ACTOR says). Approving, rejecting, cancelling another's "
            "request and promoting to production need it."
        ),
    )
    mlflow_uri: str | None = Field(default=None, description="MLflow tracking URI (default: local store).")
    approvals_medium: int = Field(
        default=1,
        ge=0,
        le=5,
        description="Approvers a medium-risk version needs in the first promotion policy version "
        "(seed only: afterwards `govern policy set` decides).",
    )
    approvals_high: int = Field(
        default=2,
        ge=0,
        le=5,
        description="Approvers a high-risk version needs in the first promotion policy version "
        "(seed only: afterwards `govern policy set` decides).",
    )
    debug: bool = Field(default=False, description="Show tracebacks for unexpected errors.")
    session_hours: float = Field(
        default=8.0, gt=0, le=720, description="How long a dashboards login lasts before logging in again."
    )
    audit_key: SecretStr | None = Field(
        default=None,
        description="Key of the audit chain's HMAC-SHA256 hashes and checkpoint signatures (kept outside the database).",
    )
    # Alert channels: the SMTP server and its credentials are the operator's; a channel names recipients.
    smtp_host: str = Field(default="localhost", description="SMTP server that e-mail alerts go through.")
    smtp_port: int = Field(default=25, ge=1, le=65535, description="Port of the SMTP server.")
    smtp_tls: Literal["none", "starttls", "ssl"] = Field(
        default="none", description="TLS to the SMTP server: none, starttls or ssl (implicit TLS)."
    )
    smtp_user: str | None = Field(default=None, description="SMTP login user (none: no login).")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP login password.")
    smtp_from: str = Field(default="govern@localhost", description="Sender address of e-mail alerts.")
    channel_email_domains: str = Field(
        default="", description="Comma-separated recipient domains e-mail channels may name (empty: any)."
    )
    channel_webhook_hosts: str = Field(
        default="", description="Comma-separated hosts webhook channels may post to (empty: any)."
    )
    channel_max_retries: int = Field(
        default=5, ge=1, le=100, description="Most attempts a channel may ask for."
    )
    channel_max_backoff_seconds: float = Field(
        default=60.0, ge=0, le=86400, description="Longest backoff a channel may ask for between attempts."
    )
    channel_max_timeout_seconds: float = Field(
        default=10.0, gt=0, le=600, description="Longest timeout a channel may ask for per attempt."
    )
    channel_workers: int = Field(
        default=4, ge=1, le=64, description="Threads that send alert deliveries beside the scheduler's tick."
    )
    lease_seconds: float = Field(
        default=30.0,
        ge=1,
        le=3600,
        description="Lease of a monitor run or retrain job, renewed by its process while alive.",
    )
    scheduler_processes: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Processes a scheduler runs its windows in (0: one per CPU core; 1: its own process).",
    )
    # Monitor checks that run a model's code do so in a child process under these limits.
    model_check_sandbox: bool = Field(
        default=True,
        description="Run model checks (consistency, robustness, attribution drift) in a limited child process.",
    )
    model_check_memory_mb: int = Field(
        default=4096,
        ge=256,
        le=1 << 20,
        description="Address-space limit of a model check's child process, in MB.",
    )
    model_check_cpu_seconds: int = Field(
        default=600,
        ge=1,
        le=86400,
        description="CPU-time limit of a model check's child process, in seconds.",
    )
    model_check_timeout_seconds: float = Field(
        default=900.0,
        gt=0,
        le=86400,
        description="Wall-clock limit of a model check's child process, in seconds.",
    )
    report_retention: str = Field(
        default="30d",
        description="How long an on-demand run report stays cached (`govern storage gc` removes older ones).",
    )

    @field_validator("storage_root", mode="before")
    @classmethod
    def _storage_root_path_or_url(cls, value: object) -> Path | str:
        from governance.errors import InvalidInput
        from governance.storage import parse_root

        if not isinstance(value, str | Path):
            raise ValueError("the storage root is a folder or a URL")
        try:
            return parse_root(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("api_key")
    @classmethod
    def _empty_api_key_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return _unset_if_empty(value)

    @field_validator("audit_key")
    @classmethod
    def _audit_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        value = _unset_if_empty(value)
        if value is not None and len(value.get_secret_value()) < 16:
            raise ValueError("the audit key must be at least 16 characters")
        return value


def _unset_if_empty(value: SecretStr | None) -> SecretStr | None:
    """``GOVERN_API_KEY=`` (empty) means not set, as if the variable were absent."""
    return None if value is None or value.get_secret_value() == "" else value


def get_settings() -> Settings:
    return Settings()
