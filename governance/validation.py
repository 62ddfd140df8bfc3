"""Bounds every value meets before it reaches the database, checked once under every service.

PostgreSQL refuses what SQLite quietly stores: a string longer than its column, a NUL byte, an
integer past the column's range, ``NaN`` in JSON. Refused there, such a value surfaced as a
``DataError`` with the whole SQL statement (exit 3, HTTP 500). Here it is one sentence and an
:class:`InvalidInput` (exit 2, HTTP 422), on both dialects alike:

- :func:`install` hooks ``before_flush`` on a session factory: every row about to be written is
  checked against its table's column types (string length and NUL, integer range, finite floats,
  JSON depth and contents, aware datetimes). The CLI, the API, the scheduler and the worker all
  write through it, so none of them needs to repeat the column lengths.
- :func:`check_id` and :func:`check_text` guard look-ups, which write nothing but still send the
  value to the database.
- :func:`parse_time` reads an ISO date or time given as text (a zone-less one is UTC).
- :func:`parse_json_object` reads JSON given as text (``--metrics``, ``?hyperparameters=``):
  no ``NaN``/``Infinity`` and bounded nesting.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Integer, String, event
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from governance.errors import InvalidInput

MAX_INT = 2**31 - 1  # Integer columns (and identifiers) on PostgreSQL
MAX_BIGINT = 2**63 - 1
MAX_JSON_DEPTH = 32
MAX_JSON_TEXT = 1 << 20  # characters of JSON given as one option or query parameter


def shown(value: object, limit: int = 64) -> str:
    """``value`` for an error message: NUL and control characters escaped, long values cut."""
    text = str(value)
    cut = text[:limit]
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in cut)
    return f"{out}..." if len(text) > limit else out


def check_text(value: str, what: str, max_length: int | None = None) -> str:
    """``value`` if it has no NUL byte and at most ``max_length`` characters."""
    if "\x00" in value:
        raise InvalidInput(f"{what} '{shown(value)}' contains a NUL byte")
    if max_length is not None and len(value) > max_length:
        raise InvalidInput(f"{what} is {len(value)} characters long; at most {max_length} are allowed")
    return value


def check_id(value: int, what: str) -> int:
    """An identifier of an ``Integer`` primary key: 1 to 2^31-1 (anything else names no row)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_INT:
        raise InvalidInput(f"{what} {shown(value)} is out of range (1 to {MAX_INT})")
    return value


def check_json(value: Any, what: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``value`` if it is plain JSON: finite numbers, NUL-free strings, at most ``max_depth`` deep."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > max_depth:
                raise InvalidInput(f"{what} is nested more than {max_depth} levels deep")
            if isinstance(item, dict):
                for key, inner in item.items():
                    if isinstance(key, str):
                        check_text(key, f"a key in {what}")
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)
        elif isinstance(item, float):
            if not math.isfinite(item):
                raise InvalidInput(f"{what} holds {item}: numbers must be finite")
        elif isinstance(item, int) and not isinstance(item, bool):
            if abs(item) > MAX_BIGINT:
                raise InvalidInput(f"{what} holds an integer beyond 64 bits")
        elif isinstance(item, str):
            check_text(item, f"a string in {what}")
    return value


def parse_time(text: str, what: str) -> datetime:
    """An ISO date or time given as text (``--at``, a monitor's ``baseline_start``); a time without
    a zone is UTC, and one that is not ISO is one sentence naming ``what``."""
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidInput(f"{what} '{shown(text)}' is not an ISO date or time") from exc
    if not value.tzinfo:
        return value.replace(tzinfo=UTC)
    try:  # year 1 an hour east of UTC is before year 1 in UTC: no datetime can hold it there
        value.astimezone(UTC)
    except OverflowError as exc:
        raise InvalidInput(f"{what} '{shown(text)}' is outside the years 1 to 9999 in UTC") from exc
    return value


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def parse_json(text: str, what: str) -> Any:
    """JSON text as a value: no ``NaN``/``Infinity``, bounded size and depth, one sentence if not."""
    if len(text) > MAX_JSON_TEXT:
        raise InvalidInput(f"{what} is longer than {MAX_JSON_TEXT} characters")
    if json_depth(text) > MAX_JSON_DEPTH:
        raise InvalidInput(f"{what} is nested more than {MAX_JSON_DEPTH} levels deep")
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc.msg}") from exc
    except ValueError as exc:
        raise InvalidInput(f"{what} is not valid JSON: {exc}") from exc
    return check_json(value, what)


def parse_json_object(text: str | None, what: str) -> dict[str, Any]:
    """JSON text that must be an object (``{}`` when empty)."""
    if not text:
        return {}
    value = parse_json(text, what)
    if not isinstance(value, dict):
        raise InvalidInput(f"{what} must be a JSON object")
    return value


def json_depth(text: str | bytes) -> int:
    """The deepest nesting of ``[``/``{`` in JSON text, brackets inside strings not counted."""
    data = text.encode() if isinstance(text, str) else text
    depth = deepest = 0
    in_string = escaped = False
    for byte in data:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):
            depth += 1
            deepest = max(deepest, depth)
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return deepest


def database_refusal(exc: DataError | IntegrityError) -> str:
    """One sentence for a value the database refused, with the driver's first line but no SQL.

    The flush hook checks values before they are written; this is the entry points' safety net
    for anything it misses, so a refused value is still the caller's error, not a server error.
    """
    first = str(exc.orig).strip().splitlines()[0] if exc.orig is not None else type(exc).__name__
    first = first.split("[SQL:")[0].strip().rstrip(".")
    if isinstance(exc, IntegrityError):
        return f"the change conflicts with what is recorded ({first})"
    return f"a value does not fit the database ({first})"


# -- the flush hook ---------------------------------------------------------------------------
def _label(table: str, column: str) -> str:
    noun = table[:-1] if table.endswith("s") else table
    return f"{noun} {column}".replace("_", " ")


def _impl(column_type: Any) -> Any:
    return column_type.impl if isinstance(column_type, TypeDecorator) else column_type


def check_row(obj: Any) -> None:
    """Raise InvalidInput for the first column value of ``obj`` its column cannot hold."""
    table = obj.__table__
    for column in table.columns:
        attribute = obj.__mapper__.get_property_by_column(column).key
        value = obj.__dict__.get(attribute)
        if value is None:
            continue
        what = _label(table.name, column.name)
        kind = _impl(column.type)
        if isinstance(value, str):
            check_text(value, what, kind.length if isinstance(kind, String) else None)
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int) and isinstance(kind, Integer):
            bound = MAX_BIGINT if isinstance(kind, BigInteger) else MAX_INT
            if not -bound - 1 <= value <= bound:
                raise InvalidInput(f"{what} {shown(value)} is out of range (at most {bound})")
        elif isinstance(value, float) and isinstance(kind, Float | Integer) and not math.isfinite(value):
            raise InvalidInput(f"{what} is {value}: numbers must be finite")
        elif isinstance(value, datetime) and value.tzinfo is None:
            raise InvalidInput(f"{what} {value.isoformat()} has no time zone")
        elif isinstance(kind, JSON):
            check_json(value, what)


def _rows(session: Session) -> Iterable[Any]:
    # The audit event of a change repeats its values: check the change first so its name is shown.
    rows = [o for o in (*session.new, *session.dirty) if hasattr(o, "__table__")]
    return sorted(rows, key=lambda o: o.__table__.name.startswith("audit"))


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for obj in _rows(session):
        check_row(obj)


def install(factory: sessionmaker[Session]) -> None:
    """Check every row that sessions from ``factory`` write (see the module docstring)."""
    event.listen(factory, "before_flush", _before_flush)
