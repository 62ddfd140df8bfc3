"""What a database administrator can do to the audit log, by hand, on either dialect.

Each function is one tampering done with raw SQL (or the ORM, never the audit service), the way an
attacker with write access to the database would do it.
"""

from __future__ import annotations

from sqlalchemy import delete, select, text, update

from governance.audit import service as audit
from governance.audit.hashing import KEYED, PLAIN, event_hash
from governance.audit.models import AuditEvent, AuditHead
from governance.db import Database

DEEP_JSON = '{"a": ' + "[" * 5000 + "]" * 5000 + "}"

# name -> (column, stored text); PostgreSQL's typed columns refuse the text, so the attacker first
# makes the column text (ALTER TABLE), which a database administrator may do.
MALFORMED: dict[str, tuple[str, str]] = {
    "invalid-json": ("changes", '{"i": 2, "nested": '),
    "deep-nesting": ("changes", DEEP_JSON),
    "garbage-time": ("at", "garbage"),
    "infinite-time": ("at", "infinity"),
}


def fill(db: Database, n: int = 5, *, key: str | None = None, start: int = 0) -> None:
    """``n`` events written by the platform (keyed when ``key`` is given)."""
    from governance.audit.hashing import bind_key

    bind_key(db, key)
    try:
        for i in range(start, start + n):
            with db.transaction() as s:
                audit.record(
                    s,
                    actor="alice",
                    action="thing.do",
                    entity_type="thing",
                    entity_id=f"t{i}",
                    changes={"i": i, "value": 0.1 * i, "nested": {"ok": True}},
                )
    finally:
        bind_key(db, None)


def store_malformed(db: Database, event_id: int, kind: str) -> None:
    column, value = MALFORMED[kind]
    with db.engine.begin() as conn:
        dialect = conn.dialect.name
        if dialect == "postgresql" and not (kind == "deep-nesting" or kind == "infinite-time"):
            conn.execute(
                text(f"ALTER TABLE audit_events ALTER COLUMN {column} TYPE text USING {column}::text")
            )
        conn.execute(
            text(f"UPDATE audit_events SET {column} = :value WHERE id = :id"),
            {"value": value, "id": event_id},
        )


def _rehash(event: AuditEvent, prev_hash: str, key: bytes | None) -> str:
    return event_hash(
        event_id=event.id,
        at=event.at,
        actor=event.actor,
        action=event.action,
        entity_type=event.entity_type,
        entity_id=event.entity_id,
        changes=event.changes,
        prev_hash=prev_hash,
        key=key,
    )


def rewrite_suffix(db: Database, from_id: int, *, key: bytes | None = None, scheme: str = PLAIN) -> None:
    """Edit event ``from_id`` and recompute every later hash and the head (with ``key``, a guess)."""
    with db.transaction() as s:
        prev = s.scalar(select(AuditEvent.hash).where(AuditEvent.id == from_id - 1)) if from_id > 1 else None
        prev_hash = prev or audit.GENESIS_HASH
        events = list(s.scalars(select(AuditEvent).where(AuditEvent.id >= from_id).order_by(AuditEvent.id)))
        events[0].actor = "mallory"
        events[0].changes = {**events[0].changes, "approved_by": "mallory"}
        for event in events:
            event.prev_hash = prev_hash
            event.hash = _rehash(event, prev_hash, key)
            event.hash_scheme = scheme
            prev_hash = event.hash
            s.flush()
        s.execute(update(AuditHead).values(event_id=events[-1].id, hash=prev_hash))


def roll_back_to(db: Database, last_id: int) -> None:
    """Delete every event after ``last_id`` and point the head at ``last_id``: a quiet rollback."""
    with db.transaction() as s:
        s.execute(delete(AuditEvent).where(AuditEvent.id > last_id))
        digest = s.scalar(select(AuditEvent.hash).where(AuditEvent.id == last_id))
        s.execute(update(AuditHead).values(event_id=last_id, hash=digest))


def wipe(db: Database) -> None:
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))
        conn.execute(text("DELETE FROM audit_head"))


def append_forged(db: Database, *, key: bytes | None = None) -> int:
    """Add an event after the last one, correctly chained, without moving the head; its id."""
    with db.transaction() as s:
        last = s.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
        forged = AuditEvent(
            id=last.id + 1,
            at=last.at,
            actor="mallory",
            action="model.stage",
            entity_type="model_version",
            entity_id="fraud@9",
            changes={"to": "production"},
            prev_hash=last.hash,
            hash="",
            hash_scheme=KEYED if key is not None else PLAIN,
        )
        forged.hash = _rehash(forged, last.hash, key)
        s.add(forged)
        return forged.id
