"""Append-only audit events in a hash chain, and the chain's verification.

Each event's hash covers its own fields and the previous event's hash, so editing or deleting any
row breaks the chain at that row; the head (last id and hash) is kept in its own table so that a
deleted tail is noticed too. Events are written by the same service call, and so in the same
transaction, as the change they record.

Whoever can write the database could still rewrite a suffix and recompute the hashes and the head.
Two things stop that: with ``GOVERN_AUDIT_KEY`` the hashes are HMAC-SHA256 under a key the
database does not hold (``hashing``), and a checkpoint of the head kept elsewhere shows a chain that
no longer extends it (``checkpoint``). Verification reads rows defensively (``stored``): a row that
does not decode is an altered event, never an exception.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from governance.audit import stored
from governance.audit.hashing import (
    GENESIS_HASH,
    KEYED,
    PLAIN,
    SCHEMES,
    event_hash,
    key_fingerprint,
    session_key,
)
from governance.audit.models import AuditEvent, AuditHead
from governance.audit.stored import StoredEvent
from governance.auth import principal as principals
from governance.db import utcnow
from governance.errors import Unavailable

__all__ = ["GENESIS_HASH", "ChainVerification", "event_hash", "list_events", "record", "verify"]

_CHAIN_LOCK_KEY = 7_312_001  # PostgreSQL advisory lock that serialises appends across processes


def _jsonable(changes: dict[str, Any]) -> dict[str, Any]:
    """What the JSON column will give back, so the hash is computed over the stored form."""
    import json

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
    """Append one event to the chain (flushes; the caller's transaction commits it).

    Keyed with the session's audit key when one is bound. Refuses to append a plain event to a
    keyed chain: that would break it for every later verification.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK_KEY})
    key = session_key(session)
    head = session.get(AuditHead, 1, with_for_update=True)
    prev_id, prev_hash = (head.event_id, head.hash) if head is not None else (0, GENESIS_HASH)
    if key is None and prev_id:
        previous = session.scalar(select(AuditEvent.hash_scheme).where(AuditEvent.id == prev_id))
        if previous == KEYED:
            raise Unavailable(
                "the audit chain is keyed with HMAC-SHA256: set GOVERN_AUDIT_KEY to the chain's key to write to it"
            )
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
        key=key,
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
        hash_scheme=KEYED if key is not None else PLAIN,
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
    """The answer of ``verify``.

    ``events`` is the number of events in the log, whether or not the chain holds.
    ``first_bad_event`` is None when the chain holds, or when it cannot be checked at all (a keyed
    chain without the key, a refused checkpoint): ``reason`` says which.
    ``keyed_from`` is the first HMAC-SHA256 event (None: the chain is plain SHA-256);
    ``verified_from`` the first event this verification recomputed (1 unless incremental).
    """

    ok: bool
    events: int
    first_bad_event: int | None
    reason: str | None
    head_hash: str | None
    keyed_from: int | None = None
    key_set: bool = False
    verified_from: int = 1
    checkpoint: dict[str, Any] | None = None

    @property
    def scheme(self) -> str:
        if self.keyed_from is None:
            return KEYED if self.key_set and self.events == 0 else PLAIN
        return KEYED if self.keyed_from == 1 else "mixed"

    @property
    def note(self) -> str:
        """What the chain proves, in one sentence."""
        if self.keyed_from is None and not self.key_set:
            return (
                "plain SHA-256, not keyed (GOVERN_AUDIT_KEY is not set): it shows edits, but whoever "
                "can write the database can rewrite it with new hashes; keep checkpoints elsewhere"
            )
        if self.keyed_from is None:
            if self.events == 0:
                return "keyed with HMAC-SHA256 (GOVERN_AUDIT_KEY)"
            return (
                f"all {self.events} events are plain SHA-256, written before GOVERN_AUDIT_KEY was set; "
                "the next event is keyed with HMAC-SHA256"
            )
        if self.keyed_from == 1:
            return "keyed with HMAC-SHA256 (GOVERN_AUDIT_KEY) from event 1"
        return (
            f"events 1-{self.keyed_from - 1} are plain SHA-256 (written before GOVERN_AUDIT_KEY was set); "
            f"keyed with HMAC-SHA256 from event {self.keyed_from}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "first_bad_event": self.first_bad_event,
            "reason": self.reason,
            "head_hash": self.head_hash,
            "scheme": self.scheme,
            "keyed_from": self.keyed_from,
            "key_set": self.key_set,
            "note": self.note,
            "verified_from": self.verified_from,
            "checkpoint": self.checkpoint,
        }


@dataclass(frozen=True)
class _Point:
    """A verified prefix of the chain: its last event, that event's hash, where keying began."""

    last_id: int
    last_hash: str
    keyed_from: int | None


_START = _Point(0, GENESIS_HASH, None)
# The last point verified, per engine and key, kept in this process only: a database administrator
# cannot move it forward. Lost on restart (the next view verifies the whole chain once).
_verified: weakref.WeakKeyDictionary[Engine, dict[str | None, _Point]] = weakref.WeakKeyDictionary()
_verified_lock = threading.Lock()


def _engine(session: Session) -> Engine:
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


class _Unverifiable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _event_problem(event: StoredEvent, point: _Point, key: bytes | None) -> str | None:
    """Why ``event`` (the one after ``point``) breaks the chain, or None when it holds."""
    n = event.id
    if event.unreadable:
        return f"event {n} was altered: its {', '.join(event.unreadable)} cannot be read"
    if event.hash_scheme not in SCHEMES:
        return f"event {n} was altered: its hash scheme {event.hash_scheme!r} is unknown"
    if event.hash_scheme == PLAIN and point.keyed_from is not None:
        return (
            f"event {n} was altered: it is plain SHA-256 after keyed events (from event {point.keyed_from}), "
            "so it was rewritten without the key"
        )
    if event.hash_scheme == KEYED and key is None:
        raise _Unverifiable(
            f"events from {n} on are keyed with HMAC-SHA256 and GOVERN_AUDIT_KEY is not set: "
            "they cannot be verified here"
        )
    if event.prev_hash != point.last_hash:
        return f"event {n} does not follow event {n - 1}"
    if event.at is None or event.changes is None or event.prev_hash is None:
        return f"event {n} was altered: its fields cannot be read"
    try:
        recomputed = event_hash(
            event_id=n,
            at=event.at,
            actor=event.actor or "",
            action=event.action or "",
            entity_type=event.entity_type or "",
            entity_id=event.entity_id or "",
            changes=event.changes,
            prev_hash=event.prev_hash,
            key=key if event.hash_scheme == KEYED else None,
        )
    except (ValueError, TypeError, RecursionError, OverflowError):
        return f"event {n} was altered: its fields cannot be hashed"
    if recomputed != event.hash:
        if event.hash_scheme == KEYED and point.keyed_from is None:
            return f"event {n} was altered (or GOVERN_AUDIT_KEY is not the key the chain was written with)"
        return f"event {n} was altered"
    return None


def _walk(session: Session, point: _Point, key: bytes | None) -> tuple[_Point, int | None, str | None]:
    """Verify the events after ``point``: the new verified point, and the first bad event and why."""
    query = stored.events_query(session).where(AuditEvent.id > point.last_id).order_by(AuditEvent.id)
    for event in stored.read(session, query):
        expected = point.last_id + 1
        if event.id != expected:
            return point, expected, f"event {expected} is missing"
        problem = _event_problem(event, point, key)
        if problem is not None:
            return point, event.id, problem
        keyed_from = point.keyed_from
        if keyed_from is None and event.hash_scheme == KEYED:
            keyed_from = event.id
        point = _Point(event.id, event.hash or "", keyed_from)
    return point, None, None


def _head_problem(session: Session, point: _Point) -> tuple[int, str] | None:
    head = stored.read_head(session)
    last = point.last_id
    if head is None:
        return (1, "the chain head record is missing") if last else None
    if head.event_id is None or head.hash is None:
        return max(last, 1), "the chain head was altered: it cannot be read"
    if head.event_id < last:
        return (
            head.event_id + 1,
            f"event {head.event_id + 1} comes after the chain's head (event {head.event_id}): "
            "it was added outside the platform",
        )
    if head.event_id > last:
        return (
            last + 1,
            f"event {last + 1} is missing: the chain ends at event {last} but its head says {head.event_id}",
        )
    if head.hash != point.last_hash:
        return max(last, 1), f"the chain head does not match event {last}: one of them was altered"
    return None


def _anchor(session: Session, key: bytes | None) -> _Point:
    """Where an incremental verification may start: the last verified point if it still holds."""
    with _verified_lock:
        point = _verified.get(_engine(session), {}).get(key_fingerprint(key))
    if point is None or point.last_id == 0:
        return _START
    event = stored.read_one(session, point.last_id)
    if event is None or event.unreadable or event.hash != point.last_hash:
        return _START  # changed since: verify everything, to name the first bad event
    return point


def _remember(session: Session, key: bytes | None, point: _Point) -> None:
    with _verified_lock:
        points = _verified.setdefault(_engine(session), {})
        known = points.get(key_fingerprint(key))
        if known is None or known.last_id <= point.last_id:
            points[key_fingerprint(key)] = point


def _forget(session: Session, key: bytes | None) -> None:
    with _verified_lock:
        _verified.get(_engine(session), {}).pop(key_fingerprint(key), None)


def verify(session: Session, *, incremental: bool = False) -> ChainVerification:
    """Recompute the chain; name the first event that does not match.

    ``incremental``: start from the last point this process verified (if that event still has the
    hash it had), so a page view costs only the events written since; the full check stays the
    default (``govern audit verify``).
    """
    key = session_key(session)
    start = _anchor(session, key) if incremental else _START
    try:
        point, first_bad, reason = _walk(session, start, key)
    except _Unverifiable as exc:
        return ChainVerification(
            False, stored.count(session), None, exc.reason, None, None, False, start.last_id + 1
        )
    if first_bad is None:
        head = _head_problem(session, point)
        if head is not None:
            first_bad, reason = head
    if first_bad is not None:
        _forget(session, key)  # until it holds again, every verification starts from event 1
        return ChainVerification(
            False,
            stored.count(session),
            first_bad,
            reason,
            None,
            point.keyed_from,
            key is not None,
            start.last_id + 1,
        )
    _remember(session, key, point)
    return ChainVerification(
        True,
        point.last_id,
        None,
        None,
        point.last_hash if point.last_id else None,
        point.keyed_from,
        key is not None,
        start.last_id + 1,
    )


def with_checkpoint(
    result: ChainVerification, checkpoint: dict[str, Any], problem: tuple[int | None, str] | None
) -> ChainVerification:
    """``result`` with a checkpoint's verdict: broken at the checkpoint's problem, if any."""
    if problem is None:
        return replace(result, checkpoint={**checkpoint, "extends": True})
    first_bad, reason = problem
    return replace(
        result,
        ok=False,
        first_bad_event=first_bad,
        reason=reason,
        head_hash=None,
        checkpoint={**checkpoint, "extends": False},
    )


def list_events(
    session: Session,
    *,
    entity_id: str | None = None,
    action: str | None = None,
    limit: int = 100,
    offset: int = 0,
    newest_first: bool = True,
) -> list[StoredEvent]:
    """Events as stored; a row whose values do not decode is listed with them empty (``unreadable``)."""
    query = stored.events_query(session)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    order = AuditEvent.id.desc() if newest_first else AuditEvent.id
    return list(stored.read(session, query.order_by(order).limit(limit).offset(offset)))


def count_events(session: Session, *, entity_id: str | None = None, action: str | None = None) -> int:
    query = select(func.count()).select_from(AuditEvent)
    if entity_id is not None:
        query = query.where(AuditEvent.entity_id == entity_id)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return int(session.scalar(query) or 0)
