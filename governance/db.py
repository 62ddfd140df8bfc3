"""Engine, session factory and the declarative base shared by every ORM model."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, create_engine, event, text
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every dialect (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


def make_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get foreign keys and a busy timeout."""
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


# ``mapped_column(..., info=STORED_FILE)`` marks a column that names a file under the storage root:
# storage keeps such a file when it undoes a rolled-back copy that a committed row names.
STORED_FILE: dict[str, Any] = {"stored_file": True}

# Namespaces of PostgreSQL transaction-scoped advisory locks, (namespace, key) pairs.
LOCK_STORAGE_PATH = 7_312_002  # key: a hash of the stored file's path
LOCK_MONITOR_ALERT = 7_312_003  # key: the monitor id; one open alert per monitor
LOCK_MODEL_RETRAIN = 7_312_004  # key: the model version id; one active retrain job per model


def advisory_xact_lock(executor: Session | Connection, namespace: int, key: int) -> None:
    """Hold a PostgreSQL advisory lock until the transaction ends (SQLite has one writer anyway).

    Several schedulers and workers decide "is there already an open alert / an active job?" and
    then write; the lock makes that check and the write one step across processes.
    """
    bind = executor.get_bind() if isinstance(executor, Session) else executor
    if bind.dialect.name != "postgresql":
        return
    executor.execute(
        text("SELECT pg_advisory_xact_lock(:namespace, :key)"), {"namespace": namespace, "key": key}
    )


class Database:
    """One engine and its session factory; entry points own the transactions."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        from governance.validation import install

        install(self.sessionmaker)  # every row written is checked against its columns
        from governance.compliance.cache import install as keep_compliance

        keep_compliance(self.sessionmaker)  # stored compliance verdicts follow their inputs

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session inside ``session.begin()``: committed on success, rolled back on error."""
        with self.sessionmaker() as session:
            try:
                with session.begin():
                    yield session
            except BaseException:
                for undo in reversed(session.info.pop("on_rollback", [])):
                    undo()  # files written for a transaction that did not commit
                raise
            session.info.pop("on_rollback", None)

    def dispose(self) -> None:
        self.engine.dispose()
