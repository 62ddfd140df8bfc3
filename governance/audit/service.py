"""Append-only audit events chained by SHA-256, and the chain's verification.

Each event's hash covers its own fields and the previous event's hash, so editing or deleting any
row breaks the chain at that row; the head (last id and hash) is kept in its own table so that a
deleted tail is noticed too. Events are written by the same service call, and so in the same
transaction, as the change they record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditHead
from governance.auth import principal as principals
from governance.db import utcnow

GENESIS_HASH = "0" * 64
_CHAIN_LOCK_KEY = 7_312_001  # PostgreSQL advisory lock that serialises appends across processes


def _canonical_time(at: datetime) -> str:
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def event_hash(
    *,
    event_id: int,
    at: datetime,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any],
    prev_hash: str,
) -> str:
    payload = {
        "id": event_id,
        "at": _canonical_time(at),
        "actor": actor,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "changes": changes,
        "prev_hash": prev_hash,
    }
    encoded = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    """What the JSON column will give back, so the hash is computed over the stored form."""
    result: dict[str, Any] = json.loads(json.dumps(changes, default=str))
    return result


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain (flushes; the caller's transaction commits it)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    head = session.get(AuditHead, 1, with_for_update=True)
    prev_id, prev_hash = (head.event_id, head.hash) if head is not None else (0, GENESIS_HASH)
    at = utcnow()
    stored_changes = _jsonable(principals.stamp(session, actor, changes or {}))  # how the actor was known
    event_id = prev_id + 1
    digest = event_hash(
        event_id=event_id,
        at=at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        changes=stored_changes,
        prev_hash=prev_hash,
    )
    event = AuditEvent(
        id=event_id,
        at=at,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        changes=stored_changes,
        prev_hash=prev_hash,
        hash=digest,
    )
    session.add(event)
    if head is None:
        session.add(AuditHead(id=1, event_id=event_id, hash=digest))
    else:
        head.event_id, head.hash = event_id, digest
    session.flush()
    return event


@dataclass(frozen=True)
class ChainVerification:
    ok: bool
    events: int
    first_bad_event: int | None
    reason: str | None
    head_hash: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_bad_event": self.first_bad_event,
            "reason": self.reason,
            "head_hash": self.head_hash,
        }


def verify(session: Session) -> ChainVerification:
    """Recompute the chain; name the first event that does not match.

    ``events`` is the number of events in the log, whether or not the chain holds.
    """

    def broken(first_bad: int, reason: str) -> ChainVerification:
        total = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
        return ChainVerification(False, total, first_bad, reason, None)

    expected_prev = GENESIS_HASH
    expected_id = 1
    count = 0
    events: Iterable[AuditEvent] = session.scalars(
        select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=1000)
    )
    for event in events:
        count += 1
        if event.id != expected_id:
            return broken(expected_id, f"event {expected_id} is missing")
        if event.prev_hash != expected_prev:
            return broken(event.id, f"event {event.id} does not follow event {event.id - 1}")
        recomputed = event_hash(
            event_id=event.id,
            at=event.at,
            actor=event.actor,
            action=event.action,
            entity_type=event.entity_type,
            entity_id=event.entity_id,
            changes=event.changes,
            prev_hash=event.prev_hash,
        )
        if recomputed != event.hash:
            return broken(event.id, f"event {event.id} was altered")
        expected_prev = event.hash
        expected_id += 1
    head = session.get(AuditHead, 1)
    last_id = expected_id - 1
    if head is None:
        if count:
            return broken(1, "the chain head record is missing")
        return ChainVerification(True, 0, None, None, None)
    if head.event_id != last_id or head.hash != expected_prev:
        missing = last_id + 1 if head.event_id > last_id else head.event_id
        return broken(missing, f"the chain ends at event {last_id} but its head says {head.event_id}")
    return ChainVerification(True, count, None, None, head.hash)


def list_events(
    session: Session,
    *,
    entity_id: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
) -> list[AuditEvent]:
    query = select(AuditEvent)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    order = AuditEvent.id.desc() if newest_first else AuditEvent.id
    return list(session.scalars(query.order_by(order).limit(limit).offset(offset)))


def count_events(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
