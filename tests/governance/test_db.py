"""The engine's transaction behaviour on each dialect: what a rolled-back operation leaves behind."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from governance.db import Database, data_version
from governance.policy import service as policy_service
from governance.policy.models import PolicyVersion


class Refused(Exception):
    pass


def test_a_savepoint_that_is_the_first_write_rolls_back_with_its_operation(db: Database) -> None:
    """On SQLite, pysqlite starts a transaction only before a write: a SAVEPOINT with none open
    used to start its own, and its RELEASE committed there and then. A policy seeded inside a
    savepoint by an operation that then failed stayed, with its audit event."""
    with pytest.raises(Refused), db.transaction() as session:
        policy_service.current(session, seed=policy_service.default_document())  # savepoint inside
        assert session.scalar(select(func.count()).select_from(PolicyVersion)) == 1
        raise Refused
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PolicyVersion)) == 0
        with session.begin_nested():
            policy_service.current(session, seed=policy_service.default_document())
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(PolicyVersion)) == 1


def test_a_read_only_page_does_not_seed_the_policy(db: Database) -> None:
    with db.transaction() as session:
        document = policy_service.in_force(session, seed=policy_service.default_document())
        assert document == policy_service.default_document()
        assert session.scalar(select(func.count()).select_from(PolicyVersion)) == 0


def test_an_in_memory_database_has_no_data_version() -> None:
    """A second connection to ``sqlite://`` is another database: its version would never move, so
    nothing built on it may be kept."""
    memory = Database("sqlite://")
    try:
        with memory.transaction() as session:
            assert data_version(session) is None
    finally:
        memory.dispose()
