"""Schema management through Alembic: the only way the schema is made or changed."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

import migrations
from governance.db import Database
from governance.errors import Unavailable

logger = logging.getLogger(__name__)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(migrations.__file__).parent))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


@functools.cache
def head_revision() -> str | None:
    """The newest migration this code ships (read once per process: ``/healthz`` asks each time)."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(str(engine.url))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def open_database(url: str) -> Database:
    """Open ``url``; an empty database is migrated to head, an outdated one is refused."""
    db = Database(url)
    current = current_revision(db.engine)
    head = head_revision()
    if current is None:
        logger.info("database is empty: creating the schema (revision %s)", head)
        upgrade(db.engine)
    elif current != head:
        db.dispose()
        raise Unavailable(
            f"the database is at schema revision {current}, not {head}: run `govern init` to upgrade it"
        )
    return db
