"""The audit chain over HTTP: a tampered row is a broken chain (never a 500), verified incrementally."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr
from sqlalchemy import text

from dashboards.api.app import create_app
from governance.audit import service as audit
from governance.auth import service as auth_service
from governance.db import Database
from governance.settings import Settings
from tests.governance import audit_attacks as attack

KEY = "an-operators-audit-key-of-some-length"


@pytest.fixture
def viewer(db: Database) -> dict[str, str]:
    with db.transaction() as s:
        user = auth_service.create_user(s, name="vera", role="viewer", actor="setup")
        key = auth_service.create_key(s, user=user, actor="setup").plaintext
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def hashed(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Event ids whose hash was computed (by writing or verifying) since the list was last cleared."""
    seen: list[int] = []
    original = audit.event_hash

    def counting(**fields: Any) -> str:
        seen.append(fields["event_id"])
        return original(**fields)

    monkeypatch.setattr("governance.audit.service.event_hash", counting)
    yield seen


def _events(db: Database) -> int:
    with db.transaction() as s:
        return audit.count_events(s)


@pytest.mark.parametrize("kind", sorted(attack.MALFORMED))
def test_a_malformed_row_is_a_broken_chain_on_the_api_and_the_page(
    client: TestClient, db: Database, viewer: dict[str, str], kind: str
) -> None:
    attack.fill(db, 4)
    first = _events(db) - 1  # the second of the four
    attack.store_malformed(db, first, kind)
    for params in ({}, {"full": "true"}):
        r = client.get("/api/v1/audit/verify", params=params, headers=viewer)
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ok"] is False and body["first_bad_event"] == first
        assert body["reason"].startswith(f"event {first} was altered")
    r = client.get("/api/v1/audit/events", params={"limit": 3}, headers=viewer)
    assert r.status_code == 200, r.text
    row = next(e for e in r.json()["items"] if e["id"] == first)
    column = attack.MALFORMED[kind][0]
    assert row[column] is None and row["unreadable"] == [column]
    page = client.get("/audit", headers=viewer)
    assert page.status_code == 200, page.text
    assert f"chain BROKEN</span> at event {first}: event {first} was altered" in page.text
    assert f"unreadable: {column}" in page.text


def test_the_audit_page_verifies_only_what_is_new(
    client: TestClient, db: Database, viewer: dict[str, str], hashed: list[int]
) -> None:
    with db.transaction() as s:  # many events, cheaply
        for i in range(1500):
            audit.record(s, actor="alice", action="thing.do", entity_type="thing", entity_id=f"t{i}")
    total = _events(db)
    hashed.clear()  # writing hashed them too
    first = client.get("/audit", headers=viewer)
    assert first.status_code == 200 and "chain verifies</span> over" in first.text
    assert "The whole chain was checked" in first.text
    assert len(hashed) == total  # the first view of this process: everything
    hashed.clear()
    attack.fill(db, 3, start=2000)
    hashed.clear()
    second = client.get("/audit", headers=viewer)
    assert sorted(hashed) == [total + 1, total + 2, total + 3]  # only the new events
    assert f"Checked from event {total + 1}" in second.text
    hashed.clear()
    api = client.get("/api/v1/audit/verify", headers=viewer).json()
    assert api["ok"] is True and api["events"] == total + 3 and api["verified_from"] == total + 4
    assert hashed == []  # nothing new: nothing recomputed
    full = client.get("/api/v1/audit/verify", params={"full": "true"}, headers=viewer).json()
    assert full["ok"] is True and full["verified_from"] == 1 and len(hashed) == total + 3


def test_incremental_verification_still_catches_what_changes(
    client: TestClient, db: Database, viewer: dict[str, str]
) -> None:
    attack.fill(db, 6)
    total = _events(db)

    def verify(**params: str) -> dict[str, Any]:
        r = client.get("/api/v1/audit/verify", params=params, headers=viewer)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    assert verify()["ok"] is True
    # a forged event past the head, after the verified point
    forged = attack.append_forged(db)
    broken = verify()
    assert broken["first_bad_event"] == forged and broken["verified_from"] == total + 1
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": forged})
    again = verify()
    assert again["ok"] is True and again["verified_from"] == 1  # after a break: from event 1
    # the verified point itself rewritten: everything is checked again, and the first bad one named
    attack.rewrite_suffix(db, total - 1)
    rewritten = verify()
    assert rewritten["verified_from"] == 1
    assert (
        rewritten["ok"] is True
    )  # plain SHA-256 recomputed: only a checkpoint shows it (see test_audit_tamper)
    # an edit before the verified point is found by a full verification, and then by every view
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_events SET actor = 'mallory' WHERE id = 2"))
    assert verify()["ok"] is True  # incremental: event 2 was verified earlier by this server
    assert verify(full="true")["first_bad_event"] == 2
    assert verify()["first_bad_event"] == 2
    page = client.get("/audit", headers=viewer)
    assert "chain BROKEN</span> at event 2: event 2 was altered" in page.text


def test_the_page_and_the_api_say_from_which_event_the_chain_is_keyed(
    db: Database, settings: Settings, viewer: dict[str, str]
) -> None:
    attack.fill(db, 2)  # written before the key was set
    attack.fill(db, 2, key=KEY, start=2)
    keyed_from = _events(db) - 1
    with TestClient(create_app(settings.model_copy(update={"audit_key": SecretStr(KEY)}), db=db)) as keyed:
        body = keyed.get("/api/v1/audit/verify", headers=viewer).json()
        assert body["ok"] is True and body["scheme"] == "mixed" and body["keyed_from"] == keyed_from
        page = keyed.get("/audit", headers=viewer).text
        assert f"keyed with HMAC-SHA256 from event {keyed_from}" in page
    with TestClient(create_app(settings, db=db)) as unkeyed:  # a server started without the key
        body = unkeyed.get("/api/v1/audit/verify", headers=viewer).json()
        assert body["ok"] is False and body["first_bad_event"] is None
        assert "GOVERN_AUDIT_KEY is not set" in body["reason"]
        assert "chain NOT VERIFIED" in unkeyed.get("/audit", headers=viewer).text
