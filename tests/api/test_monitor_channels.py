"""Channels over HTTP: an editor cannot name SMTP servers, credentials, environment variables or
unbounded retries (422, nothing written), and a webhook secret never comes back to anyone."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from governance.audit.models import AuditEvent
from governance.db import Database
from governance.monitoring.models import Monitor
from tests.api.world import World

SECRET = "whsec-0123456789-abcdef"


def _monitor(channels: list[dict[str, Any]], name: str = "hooked") -> dict[str, Any]:
    return {"name": name, "model": "tumour@1", "kind": "data_drift", "channels": channels}


def _counts(db: Database) -> tuple[int, int]:
    with db.transaction() as s:
        return (
            s.scalar(select(func.count()).select_from(Monitor)) or 0,
            s.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


@pytest.mark.parametrize(
    "channel",
    [
        {"type": "email", "to": "me@evil.example", "host": "evil.example", "port": 25, "user": "me"},
        {"type": "email", "to": "me@evil.example", "password_env": "GOVERN_DATABASE_URL"},
        {"type": "webhook", "url": "https://evil.example/h", "secret_env": "GOVERN_DATABASE_URL"},
        {"type": "webhook", "url": "http://127.0.0.1:9/", "retries": 8, "backoff_seconds": 30},
        {"type": "webhook", "url": "http://127.0.0.1:9/", "timeout_seconds": 3600},
    ],
)
def test_hostile_channels_are_422_and_nothing_is_written(
    client: TestClient, world: World, db: Database, channel: dict[str, Any]
) -> None:
    before = _counts(db)
    response = client.post("/api/v1/monitors", json=_monitor([channel]), headers=world.headers("editor"))
    assert response.status_code == 422, response.text
    assert "operator" in response.text or "environment variable" in response.text
    assert _counts(db) == before


def test_a_webhook_secret_is_write_only(client: TestClient, world: World) -> None:
    channel = {"type": "webhook", "url": "https://hooks.bank.example/alerts", "secret": SECRET}
    created = client.post("/api/v1/monitors", json=_monitor([channel]), headers=world.headers("editor"))
    assert created.status_code == 201, created.text
    fingerprint = hashlib.sha256(SECRET.encode()).hexdigest()[:8]
    assert created.json()["channels"][0]["secret_fingerprint"] == fingerprint
    viewer, admin = world.headers("viewer"), world.headers("admin")
    seen = [
        created.text,
        client.get(f"/api/v1/monitors/{created.json()['id']}", headers=viewer).text,
        client.get("/api/v1/monitors/hooked", headers=viewer).text,
        client.get("/api/v1/monitors", params={"limit": 500}, headers=viewer).text,
        client.get("/api/v1/audit/events", params={"limit": 500}, headers=admin).text,
        client.get("/models/tumour/1", headers=viewer).text,
    ]
    assert all(SECRET not in page for page in seen)
    assert fingerprint in seen[1] and fingerprint in seen[3]
