"""The audit log's hash chain: any direct edit or deletion of audit rows is detected."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import delete, update

from governance.audit import service as audit
from governance.audit.models import AuditEvent
from governance.db import Database


def _fill(db: Database, n: int = 5) -> None:
    for i in range(n):
        with db.transaction() as s:
            audit.record(
                s,
                actor="alice",
                action="thing.do",
                entity_type="thing",
                entity_id=f"t{i}",
                changes={"i": i, "value": 0.1 * i, "nested": {"ok": True}},
            )


def test_intact_chain_verifies(db: Database) -> None:
    _fill(db)
    with db.transaction() as s:
        result = audit.verify(s)
    assert result.ok and result.events == 5 and result.first_bad_event is None
    assert result.head_hash is not None


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (update(AuditEvent).where(AuditEvent.id == 3).values(actor="mallory"), 3),
        (update(AuditEvent).where(AuditEvent.id == 2).values(changes={"i": 99}), 2),
        (delete(AuditEvent).where(AuditEvent.id == 4), 4),
        (delete(AuditEvent).where(AuditEvent.id == 5), 5),
        (delete(AuditEvent).where(AuditEvent.id == 1), 1),
    ],
    ids=["edit-actor", "edit-changes", "delete-middle", "delete-tail", "delete-first"],
)
def test_tampering_is_detected(db: Database, tamper: Any, first_bad: int) -> None:
    _fill(db)
    with db.transaction() as s:
        s.execute(tamper)
    with db.transaction() as s:
        result = audit.verify(s)
    assert not result.ok
    assert result.first_bad_event == first_bad


def test_rehashing_one_event_breaks_the_next(db: Database) -> None:
    _fill(db)
    with db.transaction() as s:
        ev = s.get(AuditEvent, 2)
        assert ev is not None
        ev.actor = "mallory"
        ev.hash = audit.event_hash(
            event_id=ev.id,
            at=ev.at,
            actor=ev.actor,
            action=ev.action,
            entity_type=ev.entity_type,
            entity_id=ev.entity_id,
            changes=ev.changes,
            prev_hash=ev.prev_hash,
        )
    with db.transaction() as s:
        assert audit.verify(s).first_bad_event == 3


def test_cli_verify_exit_codes(govern: Any, database_url: str) -> None:
    from governance.db import Database

    govern("license", "add", "LicenseRef-x", "--name", "X")
    govern("license", "add", "LicenseRef-y", "--name", "Y")
    ok = json.loads(govern("audit", "verify", "--json").stdout)
    assert ok == {
        "ok": True,
        "events": 2,
        "first_bad_event": None,
        "reason": None,
        "head_hash": ok["head_hash"],
        "scheme": "sha256",
        "keyed_from": None,
        "key_set": False,
        "note": ok["note"],
        "verified_from": 1,
        "checkpoint": None,
    }
    assert "GOVERN_AUDIT_KEY is not set" in ok["note"]
    database = Database(database_url)
    with database.transaction() as s:
        s.execute(update(AuditEvent).where(AuditEvent.id == 1).values(entity_id="LicenseRef-z"))
    database.dispose()
    broken = json.loads(govern("audit", "verify", "--json", expect=1).stdout)
    assert broken["ok"] is False and broken["first_bad_event"] == 1
    assert broken["events"] == 2  # every event in the log, not just those read before the bad one
