"""Helpers for tests where two transactions race on PostgreSQL."""

from __future__ import annotations

import time

from sqlalchemy import text

from governance.db import Database


def wait_for_a_blocked_advisory_lock(db: Database, timeout: float = 30.0) -> None:
    """Return once some transaction waits for an advisory lock (the other side of the race)."""
    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            ).scalar_one()
            conn.rollback()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("no second transaction ever waited for the lock")
