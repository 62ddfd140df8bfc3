"""The schema is made by Alembic alone, and the ORM and the migrations agree."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select

from governance.db import Database
from governance.migrate import current_revision, downgrade, head_revision, upgrade
from governance.models import Base, License


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    database = Database(database_url)
    try:
        upgrade(database.engine)
        assert current_revision(database.engine) == head_revision()
        downgrade(database.engine, "base")
        assert current_revision(database.engine) is None
        assert "licenses" not in inspect(database.engine).get_table_names()
        upgrade(database.engine)
        assert current_revision(database.engine) == head_revision()
    finally:
        database.dispose()


def test_orm_matches_migrations(db: Database) -> None:
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_license_catalog_loaded(db: Database) -> None:
    with db.transaction() as session:
        ids = set(session.scalars(select(License.spdx_id)))
    assert len(ids) >= 30
    for expected in [
        "CC0-1.0",
        "CC-BY-4.0",
        "CC-BY-NC-4.0",
        "CC-BY-ND-4.0",
        "ODbL-1.0",
        "PDDL-1.0",
        "MIT",
        "Apache-2.0",
        "GPL-3.0-only",
        "AGPL-3.0-only",
        "MPL-2.0",
        "OpenRAIL-M",
        "CDLA-Permissive-2.0",
    ]:
        assert expected in ids
