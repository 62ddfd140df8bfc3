"""Content-addressed storage for registered files: datasets, model artifacts, batches, profiles, reports.

The root is a local folder (the default, ``GOVERN_STORAGE_ROOT=govern-storage``) or an fsspec URL
(``s3://bucket/prefix``, ``gs://...``, ``memory://...``; ``file://`` is a local folder), so several
machines can share one store. A stored file's *location* is what the registry records: an absolute
path for a local root (exactly as before URLs were allowed), ``<root URL>/<kind>/<name>`` otherwise;
:func:`filesystem` opens any location again.

Files are written under a temporary name and renamed (``os.replace`` locally, a move on other file
systems), so a crash leaves no half-written file under a stored name. A name that would leave the
root (``..``, an absolute part) is refused. A copy made inside a transaction that later rolls back
is removed again (see :meth:`governance.db.Database.transaction`), unless a committed row refers to
it by then.

Content addressing means two transactions may store the same file at once (two workers that
assemble the same training set, say). On PostgreSQL a transaction-scoped advisory lock on the
file's location serialises them: a writer holds it from the moment it looks for the file until its
transaction ends, and the undo of a rolled-back copy takes it too and deletes the file only when
no committed row refers to it, so one writer's rollback never removes a file another committed.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

from sqlalchemy import Column, Connection, Engine, select
from sqlalchemy.orm import Session

from governance.db import LOCK_STORAGE_PATH, Base, advisory_xact_lock
from governance.errors import InvalidInput, Unavailable
from governance.files import (  # re-exported: callers name them from here too
    CHUNK,
    StorageRoot,
    check_parts,
    check_readable,
    filesystem,
    is_url,
    parse_root,
    sha256_file,
)

__all__ = [
    "CHUNK",
    "LocalStorage",
    "Storage",
    "StorageRoot",
    "StoredFile",
    "check_readable",
    "filesystem",
    "is_url",
    "parse_root",
    "sha256_file",
]

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SUFFIX = re.compile(r"^(\.[A-Za-z0-9]{1,10}){0,3}$")


@dataclass(frozen=True)
class StoredFile:
    """One file under the storage root, as listed by :meth:`Storage.list`."""

    location: str
    size: int
    modified: float  # seconds since the epoch


class Storage:
    """Files under ``root/<kind>/<name>`` (``<sha256><suffix>`` for content-addressed ones)."""

    def __init__(self, root: StorageRoot) -> None:
        parsed = parse_root(root)
        self.url = is_url(parsed)
        self.root: StorageRoot = parsed if isinstance(parsed, str) else parsed.absolute()
        self.fs = filesystem(self.root)[0]

    def __repr__(self) -> str:
        return f"Storage({str(self.root)!r})"

    # -- names --------------------------------------------------------------------------------------
    def location(self, *names: str) -> str:
        """The location of ``root/<names...>``; a name that would leave the root is refused."""
        parts = _checked_parts(names)
        if isinstance(self.root, Path):
            return str(self.root.joinpath(*parts))
        return "/".join([self.root, *parts])

    def path_for(self, kind: str, sha256: str, suffix: str) -> str:
        if not _SHA256.match(sha256) or not _SUFFIX.match(suffix):
            raise InvalidInput(f"{sha256}{suffix} is not a content-addressed file name")
        return self.location(kind, f"{sha256}{suffix}")

    def contains(self, location: str | Path) -> bool:
        """Whether ``location`` is a file under this root (symbolic links resolved on a local disk)."""
        if isinstance(self.root, Path):
            if is_url(location):
                return False
            return Path(location).resolve().is_relative_to(self.root.resolve())
        text = str(location)
        if not text.startswith(self.root + "/"):
            return False
        try:
            check_parts(text[len(self.root) + 1 :].split("/"), text)
        except InvalidInput:
            return False
        return True

    def local_dir(self, *names: str) -> Path:
        """A local folder for files that must be on this machine's disk (checkpoints, MLflow's store):
        under the root when it is local, else under the system's temporary folder."""
        if isinstance(self.root, Path):
            return Path(self.location(*names))
        digest = hashlib.sha256(self.root.encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"govern-{digest}" / Path(*_checked_parts(names))

    # -- reading ------------------------------------------------------------------------------------
    def exists(self, location: str) -> bool:
        fs, path = filesystem(location)
        return bool(fs.isfile(path))

    def open(self, location: str) -> IO[bytes]:
        """``location`` opened for reading; one sentence when it is missing."""
        fs, path = filesystem(location)
        try:
            handle: IO[bytes] = fs.open(path, "rb")
        except FileNotFoundError as exc:
            raise InvalidInput(f"file {location} does not exist") from exc
        except IsADirectoryError as exc:
            raise InvalidInput(f"{location} is a directory, not a file") from exc
        except OSError as exc:
            raise Unavailable(f"cannot read {location} from storage: {exc.strerror or exc}") from exc
        return handle

    def read_bytes(self, location: str) -> bytes:
        with self.open(location) as handle:
            return handle.read()

    def modified(self, location: str) -> float | None:
        """When ``location`` was last written (seconds since the epoch); None when it is missing."""
        fs, path = filesystem(location)
        try:
            return _mtime(fs.info(path))
        except FileNotFoundError:
            return None

    def list(self, *names: str) -> list[StoredFile]:
        """Every file under ``root/<names...>`` (none when the folder is missing)."""
        folder = self.location(*names)
        fs, path = filesystem(folder)
        try:
            found = fs.find(path, detail=True)
        except FileNotFoundError:
            return []
        files = []
        for name, info in sorted(found.items()):
            if info.get("type") != "file":
                continue
            location = str(name) if not self.url else f"{folder}/{name[len(path.rstrip('/')) + 1 :]}"
            files.append(StoredFile(location, int(info.get("size") or 0), _mtime(info)))
        return files

    def delete(self, location: str) -> None:
        """Remove ``location`` (a file under this root; one elsewhere is refused, never touched)."""
        if not self.contains(location):
            raise InvalidInput(f"{location} is not under the storage root {self.root}")
        _delete(location)

    # -- writing ------------------------------------------------------------------------------------
    def put_file(self, session: Session | None, source: Path, *, kind: str, sha256: str, suffix: str) -> str:
        """Copy ``source`` in (atomically); undone if ``session``'s transaction rolls back."""
        target = self.path_for(kind, sha256, suffix)
        if self.claim(session, target):
            return target
        with source.open("rb") as handle:
            return self._write(session, handle, target)

    def put_bytes_stream(self, session: Session | None, stream: BinaryIO, *, kind: str, name: str) -> str:
        target = self.location(kind, name)
        if self.claim(session, target):
            return target
        return self._write(session, stream, target)

    def write_bytes(self, location: str, data: bytes) -> str:
        """Write ``data`` to ``location`` under this root (atomically), replacing what was there."""
        if not self.contains(location):
            raise InvalidInput(f"{location} is not under the storage root {self.root}")
        return self._write(None, io.BytesIO(data), location)

    def claim(self, session: Session | None, target: str) -> bool:
        """Lock ``target`` for the rest of ``session``'s transaction; whether it is stored already."""
        if session is not None:
            advisory_xact_lock(session, LOCK_STORAGE_PATH, _lock_key(target))
        return self.exists(target)

    def _write(self, session: Session | None, stream: BinaryIO, target: str) -> str:
        if isinstance(self.root, Path):
            self._write_local(stream, Path(target))
        else:
            self._write_remote(stream, target)
        if session is not None:
            engine = session.get_bind()
            session.info.setdefault("on_rollback", []).append(lambda: _undo_write(engine, target))
        return target

    def _write_local(self, stream: BinaryIO, target: Path) -> None:
        tmp_name: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException as exc:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise Unavailable(f"cannot write to storage {self.root}: {exc.strerror or exc}") from exc
            raise

    def _write_remote(self, stream: BinaryIO, target: str) -> None:
        _, path = filesystem(target)
        folder, name = path.rsplit("/", 1)
        tmp = f"{folder}/.tmp-{uuid.uuid4().hex}-{name}"
        try:
            self.fs.makedirs(folder, exist_ok=True)
            with self.fs.open(tmp, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
            self.fs.mv(tmp, path)
        except Exception as exc:  # every backend has its own errors (botocore, gcsfs, ...)
            with contextlib.suppress(Exception):
                self.fs.rm_file(tmp)
            reason = getattr(exc, "strerror", None) or exc
            raise Unavailable(f"cannot write to storage {self.root}: {reason}") from exc


LocalStorage = Storage  # the name callers used before roots could be URLs


def _checked_parts(names: tuple[str, ...]) -> list[str]:
    """The parts of ``root/<names...>``; a name that would leave the root is refused."""
    parts = [part for name in names for part in str(name).split("/")]
    check_parts(parts, "/".join(str(n) for n in names))
    return parts


def _mtime(info: dict[str, Any]) -> float:
    value = info.get("mtime", info.get("created", info.get("LastModified", 0)))
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value or 0)


def _lock_key(target: str | Path) -> int:
    """A signed 32-bit key for ``target``'s location (a collision only makes two writers take turns)."""
    digest = hashlib.sha256(str(target).encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def _delete(target: str | Path) -> None:
    fs, path = filesystem(str(target))
    try:
        fs.rm_file(path)
    except FileNotFoundError:
        return


def _undo_write(bind: Engine | Connection, target: str | Path) -> None:
    """Remove a file stored by a transaction that rolled back, unless a committed row names it."""
    if not isinstance(bind, Engine):
        _delete(target)
        return
    try:
        with bind.begin() as conn:
            advisory_xact_lock(conn, LOCK_STORAGE_PATH, _lock_key(target))
            for column in _stored_file_columns():
                if conn.execute(select(column).where(column == str(target)).limit(1)).first() is not None:
                    return  # another transaction committed this content meanwhile: it is theirs now
            _delete(target)
    except Exception:
        return  # the database is gone: an orphan file is safer than a row naming a missing one


def _stored_file_columns() -> list[Column[Any]]:
    """Every column marked ``info=STORED_FILE`` in the ORM models."""
    import governance.models  # noqa: F401  (every table, so that the metadata is complete)

    return [
        column
        for table in Base.metadata.tables.values()
        for column in table.columns
        if column.info.get("stored_file")
    ]
