"""Content-addressed storage under transactions: a rollback removes its copy, never another's."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fsspec
import pytest
from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.orm import Session

from governance.db import Database
from governance.errors import InvalidInput, Unavailable
from governance.settings import Settings
from governance.storage import LocalStorage, Storage, filesystem, sha256_file
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


# -- the storage interface on every backend ---------------------------------------------------------
@pytest.fixture(params=["local", "memory"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """A store on the local disk, and one on fsspec's in-memory file system (an object store's stand-in)."""
    if request.param == "local":
        yield Storage(tmp_path / "storage")
        return
    root = f"memory://govern-{uuid.uuid4().hex}/store"
    yield Storage(root)
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _everything(storage: Storage) -> list[str]:
    fs, base = filesystem(storage.location())
    return sorted(fs.find(base)) if fs.exists(base) else []


def test_files_are_stored_by_content_and_read_back(storage: Storage, tmp_path: Path) -> None:
    source = tmp_path / "rows.csv.gz"
    source.write_bytes(b"\x1f\x8b not really gzip, only bytes")
    sha = sha256_file(source)
    location = storage.put_file(None, source, kind="datasets", sha256=sha, suffix=".csv.gz")
    assert location == storage.location("datasets", f"{sha}.csv.gz")
    assert storage.exists(location) and storage.contains(location)
    assert hashlib.sha256(storage.read_bytes(location)).hexdigest() == sha
    assert storage.put_file(None, source, kind="datasets", sha256=sha, suffix=".csv.gz") == location
    listed = storage.list("datasets")
    assert [(f.location, f.size) for f in listed] == [(location, source.stat().st_size)]
    assert abs(listed[0].modified - time.time()) < 600
    assert storage.modified(location) == pytest.approx(listed[0].modified)
    storage.delete(location)
    assert not storage.exists(location) and storage.modified(location) is None and storage.list("x") == []


def test_a_local_root_keeps_the_locations_it_always_had(tmp_path: Path) -> None:
    storage = Storage(tmp_path / "storage")
    assert storage.path_for("models", "a" * 64, ".pt") == str(
        tmp_path / "storage" / "models" / f"{'a' * 64}.pt"
    )
    assert Storage(f"file://{tmp_path}/storage").root == tmp_path / "storage"
    assert Storage("relative-root").root == Path("relative-root").absolute()
    assert storage.local_dir("mlruns") == tmp_path / "storage" / "mlruns"
    remote = Storage("memory://bucket/prefix/")
    assert (
        remote.root == "memory://bucket/prefix" and remote.location("a", "b") == "memory://bucket/prefix/a/b"
    )
    assert not str(remote.local_dir("mlruns")).startswith("memory")  # scratch stays on this machine


@pytest.mark.parametrize(
    "names",
    [
        ("..", "etc", "passwd"),
        ("reports", "../../x"),
        ("reports", "/etc/passwd"),
        ("a\\..\\b",),
        ("memory://x",),
    ],
)
def test_a_name_that_would_leave_the_root_is_refused(storage: Storage, names: tuple[str, ...]) -> None:
    with pytest.raises(InvalidInput, match="would leave the storage root"):
        storage.location(*names)
    with pytest.raises(InvalidInput, match="would leave the storage root"):
        storage.put_bytes_stream(None, io.BytesIO(b"x"), kind="datasets", name="/".join(names))
    with pytest.raises(InvalidInput, match="would leave the storage root"):
        storage.local_dir(*names)  # the scratch folder of a URL root too: never beside it
    assert _everything(storage) == []


def test_only_files_under_the_root_are_its_own(storage: Storage, tmp_path: Path) -> None:
    inside = storage.write_bytes(storage.location("reports", "r.html"), b"<p>ok</p>")
    assert storage.contains(inside) and storage.read_bytes(inside) == b"<p>ok</p>"
    sibling = str(storage.root) + "-evil/reports/r.html"  # shares the root's text as a prefix
    for outside in (sibling, str(storage.root) + "/../x", "/etc/passwd", "memory://other/r.html"):
        assert not storage.contains(outside), outside
        with pytest.raises(InvalidInput, match="is not under the storage root"):
            storage.write_bytes(outside, b"x")
    elsewhere = tmp_path / "elsewhere.html"  # a file another root (or a hostile row) names
    elsewhere.write_bytes(b"keep")
    for outside in (str(elsewhere), f"file://{elsewhere}", str(storage.root) + "/../x"):
        with pytest.raises(InvalidInput, match="is not under the storage root"):
            storage.delete(outside)
    assert elsewhere.read_bytes() == b"keep"
    with pytest.raises(InvalidInput, match="is not a content-addressed file name"):
        storage.path_for("datasets", "../" + "a" * 61, ".csv")
    with pytest.raises(InvalidInput, match="is not a content-addressed file name"):
        storage.path_for("datasets", "a" * 64, "/../../x")


class Breaks(io.RawIOBase):
    """A stream that fails after its first megabyte, as a dropped upload does."""

    def __init__(self) -> None:
        self.sent = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self.sent >= 1 << 20:
            raise OSError("connection reset")
        buffer[: len(buffer)] = b"x" * len(buffer)
        self.sent += len(buffer)
        return len(buffer)


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(storage: Storage) -> None:
    with pytest.raises(Unavailable, match="cannot write to storage"):
        storage.put_bytes_stream(None, Breaks(), kind="batches/predictions", name=f"{'b' * 64}.parquet")  # type: ignore[arg-type]
    assert not storage.exists(storage.location("batches", "predictions", f"{'b' * 64}.parquet"))
    assert [p for p in _everything(storage) if p.rsplit("/", 1)[-1].startswith(".tmp-")] == []


def test_a_rolled_back_copy_is_removed_on_every_backend(
    db: Database, storage: Storage, tmp_path: Path
) -> None:
    data = tmp_path / "rows.csv"
    data.write_text("x,y\n1,0\n2,1\n")
    with pytest.raises(RuntimeError), db.transaction() as session:
        stored = make.dataset(session, tmp_path, "rows@1", "CC0-1.0", path=data, storage=storage).location
        assert storage.exists(stored)
        raise RuntimeError("fails after storing")
    assert not storage.exists(stored) and _everything(storage) == []
    with db.transaction() as session:
        kept = make.dataset(session, tmp_path, "rows@1", "CC0-1.0", path=data, storage=storage).location
    assert kept == stored and storage.exists(kept)


def test_a_stored_model_is_loaded_from_any_backend(storage: Storage, torchscript_models: list[Path]) -> None:
    from trainer.modelio import ModelIntegrityError, load_model

    artifact = torchscript_models[0]
    sha = sha256_file(artifact)
    location = storage.put_file(None, artifact, kind="models", sha256=sha, suffix=".pt")
    assert load_model(location, expected_sha256=sha, device="cpu").module is not None
    with pytest.raises(ModelIntegrityError):
        load_model(location, expected_sha256="0" * 64, device="cpu")


@pytest.mark.parametrize(
    ("root", "message"),
    [
        ("nosuchfs://bucket/x", "names file system 'nosuchfs', which fsspec does not know"),
        ("s3://bucket/x", "needs a package that is not installed"),
        ("memory://bucket/../x", "would leave the storage root"),
    ],
)
def test_a_storage_root_that_cannot_be_used_is_one_sentence(root: str, message: str) -> None:
    if root.startswith("s3") and importlib.util.find_spec("s3fs") is not None:
        pytest.skip("s3fs is installed here")
    with pytest.raises(InvalidInput, match=re.escape(message)):
        Storage(root)
    with pytest.raises(ValidationError, match=re.escape(message)):
        Settings(storage_root=root)


def test_the_setting_keeps_a_folder_a_path_and_a_url_its_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GOVERN_STORAGE_ROOT", "some/folder")
    assert Settings().storage_root == Path("some/folder")
    monkeypatch.setenv("GOVERN_STORAGE_ROOT", "memory://shared/govern")
    assert Settings().storage_root == "memory://shared/govern"
    monkeypatch.setenv("GOVERN_STORAGE_ROOT", f"file://{tmp_path}")
    assert Settings().storage_root == tmp_path
    assert Settings(storage_root=tmp_path).storage_root == tmp_path
