"""The one settings object: environment variables with the ``GOVERN_`` prefix.

Read once at an entry point (CLI, API, scheduler) and passed down; nothing deeper reads the
environment.
"""

from __future__ import annotations

import getpass
from pathlib import Path

from pydantic import Field
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
    storage_root: Path = Field(
        default=Path("govern-storage"),
        description="Folder where registered artifacts, datasets and production batches are kept.",
    )
    actor: str = Field(
        default_factory=_default_actor,
        description="Who the CLI records as the actor of audit events.",
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
    api_key: str | None = Field(
        default=None,
        description="The acting user's API key, for CLI actions that need a verified user "
        "(setting the promotion policy, deciding a risk change).",
    )
    debug: bool = Field(default=False, description="Show tracebacks for unexpected errors.")


def get_settings() -> Settings:
    return Settings()
