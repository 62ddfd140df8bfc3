"""Engine, session factory and the declarative base shared by every ORM model."""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, create_engine, event, make_url, text
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
    """An engine for ``url``; SQLite files get foreign keys, a busy timeout and the write-ahead log."""
    if url.startswith("sqlite"):
        in_memory = make_url(url).database in (None, "", ":memory:")
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            if not in_memory:
                # Write-ahead log (kept in the file once set): readers never wait for a writer, and
                # a writer waits its turn (busy timeout) instead of failing at once with "database
                # is locked" when the rollback journal's lock upgrade would deadlock; the server's
                # workers, schedulers and retrain workers write side by side.
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        @event.listens_for(engine, "savepoint")
        def _begin_before_savepoint(conn: Connection, _name: str) -> None:
            # pysqlite opens a transaction before a write only; a SAVEPOINT outside one starts its
            # own, and its RELEASE would commit what came before the session's commit: a change
            # made in a savepoint (a seeded policy, a stored verdict, a batch row) would outlive
            # the rollback of the operation around it. A real BEGIN first nests it as intended.
            raw: Any = conn.connection.dbapi_connection
            if raw is not None and not raw.in_transaction:
                raw.execute("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True)


class _SqliteProbe:
    """A connection of its own that only ever reads ``PRAGMA data_version``: since it writes
    nothing, every commit to the file (by any connection of this process or another, or a tool)
    moves the number it sees, so one number stands for the file's state across the whole pool.
    One per engine and process (a forked child opens its own)."""

    def __init__(self, engine: Engine) -> None:
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        self._connection = engine.dialect.loaded_dbapi.connect(
            *cargs,
            **{**cparams, "check_same_thread": False, "timeout": 30},  # busy: wait, as the pool
        )
        self._lock = threading.Lock()
        self.pid = os.getpid()

    def version(self) -> int:
        with self._lock:
            return int(self._connection.execute("PRAGMA data_version").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._connection.close()


_PROBES: weakref.WeakKeyDictionary[Engine, _SqliteProbe] = weakref.WeakKeyDictionary()
_PROBES_LOCK = threading.Lock()


def _sqlite_probe(engine: Engine) -> _SqliteProbe:
    with _PROBES_LOCK:
        probe = _PROBES.get(engine)
        if probe is None or probe.pid != os.getpid():
            probe = _PROBES[engine] = _SqliteProbe(engine)
        return probe


def close_probe(engine: Engine) -> None:
    """Close ``engine``'s probe (``Database.dispose``): the file's last connection then checkpoints
    the write-ahead log into it."""
    with _PROBES_LOCK:
        probe = _PROBES.pop(engine, None)
    if probe is not None and probe.pid == os.getpid():
        probe.close()


def data_version(session: Session) -> Hashable | None:
    """A token that is equal at two moments only if no transaction committed data in between, or
    None when there is no such token: the session has written (what it reads is its own, not yet
    everyone's) or the dialect has none.

    Read it before and after building something from the database: equal tokens mean the whole
    build saw one state of the data, and a later equal token means that state is still current, so
    the result may be served again (``dashboards.api.page_cache``). Any commit changes it, by any
    process or tool, migrations and hand-made SQL included; it costs one statement.

    - SQLite: ``PRAGMA data_version`` of a connection that never writes (``_SqliteProbe``) moves
      with every commit to the file. The session's statements each see the latest commit
      (pysqlite reads outside a transaction), so no commit between two equal readings means the
      reads between them saw the state the token names.
    - PostgreSQL: the current snapshot (``xmin:xmax:in-progress``) fixes which transactions are
      visible; its ``xmax`` moves whenever one that wrote ends.
    """
    conn = session.connection()
    dialect = conn.dialect.name
    if dialect == "sqlite":
        raw: Any = conn.connection.dbapi_connection
        if raw is None or raw.in_transaction:  # pysqlite opens a transaction before a write only
            return None
        if conn.engine.url.database in (None, "", ":memory:"):
            return None  # a probe would open a database of its own, which never changes
        return ("sqlite", _sqlite_probe(conn.engine).version())
    if dialect == "postgresql":
        snapshot, own = conn.exec_driver_sql(
            "SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text"
        ).one()
        return None if own is not None else ("postgresql", snapshot)
    return None


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
        close_probe(self.engine)
        self.engine.dispose()
