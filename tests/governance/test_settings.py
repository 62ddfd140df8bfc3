"""The settings read from the environment: an empty secret is an unset one, a short audit key is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from governance.settings import Settings


def test_an_empty_secret_in_the_environment_is_not_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERN_API_KEY", "")
    monkeypatch.setenv("GOVERN_AUDIT_KEY", "")
    settings = Settings()
    assert settings.api_key is None and settings.audit_key is None


def test_a_set_secret_is_kept_and_a_short_audit_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOVERN_API_KEY", "gk_x")
    monkeypatch.setenv("GOVERN_AUDIT_KEY", "k" * 16)
    settings = Settings()
    assert settings.api_key is not None and settings.api_key.get_secret_value() == "gk_x"
    assert settings.audit_key is not None and settings.audit_key.get_secret_value() == "k" * 16
    monkeypatch.setenv("GOVERN_AUDIT_KEY", "k" * 15)
    with pytest.raises(ValidationError, match="the audit key must be at least 16 characters"):
        Settings()
