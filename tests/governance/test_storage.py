"""Content-addressed storage under transactions: a rollback removes its copy, never another's."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from governance.db import Database
from governance.storage import LocalStorage
from tests.governance import factories as make
from tests.governance.concurrency import wait_for_a_blocked_advisory_lock


def _store(session: Session, storage: LocalStorage, path: Path, name: str) -> Path:
    return Path(
        make.dataset(session, path.parent, f"{name}@1", "CC0-1.0", path=path, storage=storage).location
    )


def _register(db: Database, storage: LocalStorage, path: Path, name: str) -> Path:
    with db.transaction() as session:
        return _store(session, storage, path, name)


def test_a_rolled_back_registration_leaves_no_file(db: Database, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    data = tmp_path / "rows.csv"
    data.write_text("x,y\n1,0\n2,1\n")
    with pytest.raises(RuntimeError), db.transaction() as session:
        stored = _store(session, storage, data, "rows")
        assert stored.exists()
        raise RuntimeError("fails after storing")
    assert not stored.exists()
    assert not list((tmp_path / "storage").rglob(".tmp-*"))


def test_a_rollback_keeps_a_file_that_a_committed_row_names(db: Database, tmp_path: Path) -> None:
    """The undo of a rolled-back copy looks at what is committed by the time it runs."""
    from governance.storage import _undo_write

    storage = LocalStorage(tmp_path / "storage")
    data = tmp_path / "rows.csv"
    data.write_text("x,y\n1,0\n2,1\n")
    location = _register(db, storage, data, "kept")
    _undo_write(db.engine, location)  # as if a second writer of the same content had rolled back
    assert location.exists()
    orphan = Path(storage.path_for("datasets", "0" * 64, ".csv"))
    orphan.write_text("x\n1\n")
    _undo_write(db.engine, orphan)
    assert not orphan.exists()


def test_every_column_that_names_a_stored_file_is_marked() -> None:
    """The undo looks in the columns marked ``info=STORED_FILE``: datasets, models and batches."""
    from governance.storage import _stored_file_columns

    assert {str(c) for c in _stored_file_columns()} == {
        "dataset_versions.location",
        "model_versions.artifact_location",
        "inference_batches.location",
    }


def test_a_rollback_never_removes_a_file_another_transaction_committed(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    """Two writers store the same content at once; the first rolls back while the second waits.

    This is what two retrain workers do when they assemble the same training set. Without the
    lock on the file's path the second writer found the first one's file, committed a row naming
    it, and the first one's rollback deleted it under the second.
    """
    if not database_url.startswith("postgresql"):
        pytest.skip("several concurrent writers of one database is the PostgreSQL deployment")
    storage = LocalStorage(tmp_path / "storage")
    data = tmp_path / "same.csv"
    data.write_text("x,y\n1,0\n2,1\n3,0\n")
    stored = threading.Event()
    failures: list[BaseException] = []

    def first_writer() -> None:
        try:
            with db.transaction() as session:
                _store(session, storage, data, "first")
                stored.set()
                wait_for_a_blocked_advisory_lock(db)
                raise RuntimeError("the first writer fails after storing")
        except RuntimeError:
            pass
        except BaseException as exc:  # surfaced to the test below
            failures.append(exc)

    thread = threading.Thread(target=first_writer)
    thread.start()
    assert stored.wait(60)
    location = _register(db, storage, data, "second")  # waits for the first writer's transaction
    thread.join(60)
    assert not thread.is_alive() and not failures, failures
    assert location.exists()
    with db.transaction() as session:
        names = session.execute(text("SELECT location FROM dataset_versions")).scalars().all()
    assert names == [str(location)]
