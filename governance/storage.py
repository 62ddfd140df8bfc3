"""Local content-addressed storage for registered files (datasets, model artifacts, batches).

Files are written under a temporary name and renamed, so a crash leaves no half-written file.
A copy made inside a transaction that later rolls back is removed again (see
:meth:`governance.db.Database.transaction`), unless a committed row refers to it by then.

Content addressing means two transactions may store the same file at once (two workers that
assemble the same training set, say). On PostgreSQL a transaction-scoped advisory lock on the
file's path serialises them: a writer holds it from the moment it looks for the file until its
transaction ends, and the undo of a rolled-back copy takes it too and deletes the file only when
no committed row refers to it, so one writer's rollback never removes a file another committed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Column, Connection, Engine, select
from sqlalchemy.orm import Session

from governance.db import LOCK_STORAGE_PATH, Base, advisory_xact_lock
from governance.errors import InvalidInput, Unavailable

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(CHUNK), b""):
                digest.update(block)
    except FileNotFoundError as exc:
        raise InvalidInput(f"file {path} does not exist") from exc
    except IsADirectoryError as exc:
        raise InvalidInput(f"{path} is a directory, not a file") from exc
    except PermissionError as exc:
        raise InvalidInput(f"file {path} cannot be read (permission denied)") from exc
    except OSError as exc:
        raise InvalidInput(f"file {path} cannot be read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def check_readable(path: Path) -> Path:
    if not path.exists():
        raise InvalidInput(f"file {path} does not exist")
    if not path.is_file():
        raise InvalidInput(f"{path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise InvalidInput(f"file {path} cannot be read (permission denied)")
    return path


class LocalStorage:
    """Files under ``root/<kind>/<sha256><suffix>``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()

    def path_for(self, kind: str, sha256: str, suffix: str) -> Path:
        return self.root / kind / f"{sha256}{suffix}"

    def put_file(self, session: Session | None, source: Path, *, kind: str, sha256: str, suffix: str) -> Path:
        """Copy ``source`` in (atomically); undone if ``session``'s transaction rolls back."""
        target = self.path_for(kind, sha256, suffix)
        if self.claim(session, target):
            return target
        with source.open("rb") as handle:
            return self._write(session, handle, target)

    def put_bytes_stream(self, session: Session | None, stream: BinaryIO, *, kind: str, name: str) -> Path:
        target = self.root / kind / name
        if self.claim(session, target):
            return target
        return self._write(session, stream, target)

    def claim(self, session: Session | None, target: Path) -> bool:
        """Lock ``target`` for the rest of ``session``'s transaction; whether it is stored already."""
        if session is not None:
            advisory_xact_lock(session, LOCK_STORAGE_PATH, _lock_key(target))
        return target.exists()

    def _write(self, session: Session | None, stream: BinaryIO, target: Path) -> Path:
        tmp_name: str | None = None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except OSError as exc:
            if tmp_name is not None:
                Path(tmp_name).unlink(missing_ok=True)
            raise Unavailable(f"cannot write to storage {self.root}: {exc.strerror or exc}") from exc
        if session is not None:
            engine = session.get_bind()
            session.info.setdefault("on_rollback", []).append(lambda: _undo_write(engine, target))
        return target


def _lock_key(target: Path) -> int:
    """A signed 32-bit key for ``target``'s path (a collision only makes two writers take turns)."""
    digest = hashlib.sha256(str(target).encode()).digest()
    return int.from_bytes(digest[:4], "big", signed=True)


def _undo_write(bind: Engine | Connection, target: Path) -> None:
    """Remove a file stored by a transaction that rolled back, unless a committed row names it."""
    if not isinstance(bind, Engine):
        target.unlink(missing_ok=True)
        return
    try:
        with bind.begin() as conn:
            advisory_xact_lock(conn, LOCK_STORAGE_PATH, _lock_key(target))
            for column in _stored_file_columns():
                if conn.execute(select(column).where(column == str(target)).limit(1)).first() is not None:
                    return  # another transaction committed this content meanwhile: it is theirs now
            target.unlink(missing_ok=True)
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
