"""Audit rows read defensively: whatever a database administrator wrote, reading never raises.

The ORM would decode ``changes`` as JSON and ``at`` as a datetime inside the driver, and a row with
invalid JSON, absurd nesting or a garbage time would crash the whole read. Here every column is
fetched as raw bytes (SQLite) or text (PostgreSQL) and decoded in Python; a value that does not
decode is ``None`` and its column is named in ``unreadable``. Verification treats such a row as
altered; the lists show it with the unreadable fields empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, LargeBinary, Select, Text, cast, func, select, text
from sqlalchemy.orm import Session

from governance.audit.models import AuditEvent, AuditHead

_TEXT_COLUMNS = (
    "at",
    "actor",
    "action",
    "entity_type",
    "entity_id",
    "changes",
    "prev_hash",
    "hash",
    "hash_scheme",
)


@dataclass(frozen=True)
class StoredEvent:
    """One audit row as stored; ``None`` for a value that could not be read (named in ``unreadable``)."""

    id: int
    at: datetime | None
    actor: str | None
    action: str | None
    entity_type: str | None
    entity_id: str | None
    changes: dict[str, Any] | None
    prev_hash: str | None
    hash: str | None
    hash_scheme: str | None
    unreadable: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "at": self.at.isoformat() if self.at is not None else None,
            "actor": self.actor,
            "action": self.action,
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "changes": self.changes,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "hash_scheme": self.hash_scheme,
        }
        if self.unreadable:
            data["unreadable"] = list(self.unreadable)
        return data


@dataclass(frozen=True)
class StoredHead:
    event_id: int | None
    hash: str | None


def _raw(session: Session, column: Any) -> ColumnElement[Any]:
    """The column as bytes (SQLite: no text decoding in the driver) or text (PostgreSQL)."""
    if session.get_bind().dialect.name == "sqlite":
        return cast(column, LargeBinary)
    return cast(column, Text)


def _prepare(session: Session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        # timestamps cast to text in ISO form, whatever the server's DateStyle (this transaction only)
        session.execute(text("SELECT set_config('DateStyle', 'ISO', true)"))


def _text(value: Any) -> str | None:
    if isinstance(value, bytes | bytearray | memoryview):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return None
    if isinstance(value, str):
        return value
    return None


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def _changes(value: str | None) -> dict[str, Any] | None:
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _decode(row: Any) -> StoredEvent:
    raw = {name: _text(value) for name, value in zip(_TEXT_COLUMNS, row[1:], strict=True)}
    at = _time(raw["at"])
    changes = _changes(raw["changes"])
    unreadable = tuple(name for name, value in raw.items() if value is None)
    if raw["at"] is not None and at is None:
        unreadable += ("at",)
    if raw["changes"] is not None and changes is None:
        unreadable += ("changes",)
    return StoredEvent(
        id=int(row[0]),
        at=at,
        actor=raw["actor"],
        action=raw["action"],
        entity_type=raw["entity_type"],
        entity_id=raw["entity_id"],
        changes=changes,
        prev_hash=raw["prev_hash"],
        hash=raw["hash"],
        hash_scheme=raw["hash_scheme"],
        unreadable=unreadable,
    )


def events_query(session: Session) -> Select[Any]:
    """``SELECT`` of the raw event columns; add filters, order and limits, then ``read`` it."""
    columns = [_raw(session, getattr(AuditEvent, name)) for name in _TEXT_COLUMNS]
    return select(AuditEvent.id, *columns)


def read(session: Session, query: Select[Any], *, batch: int = 1000) -> Iterator[StoredEvent]:
    """The rows of an ``events_query``, decoded one by one, fetched ``batch`` at a time."""
    _prepare(session)
    for row in session.execute(query.execution_options(yield_per=batch)):
        yield _decode(row)


def read_one(session: Session, event_id: int) -> StoredEvent | None:
    return next(read(session, events_query(session).where(AuditEvent.id == event_id)), None)


def read_head(session: Session) -> StoredHead | None:
    row = session.execute(
        select(_raw(session, AuditHead.event_id), _raw(session, AuditHead.hash)).where(AuditHead.id == 1)
    ).first()
    if row is None:
        return None
    event_id_text, hash_text = _text(row[0]), _text(row[1])
    try:
        event_id = int(event_id_text) if event_id_text is not None else None
    except ValueError:
        event_id = None
    return StoredHead(event_id=event_id, hash=hash_text)


def count(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
