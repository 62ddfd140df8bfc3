"""Local content-addressed storage for registered files (datasets, model artifacts, batches).

Files are written under a temporary name and renamed, so a crash leaves no half-written file.
A copy made inside a transaction that later rolls back is removed again (see
:meth:`governance.db.Database.transaction`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

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
        if target.exists():
            return target
        with source.open("rb") as handle:
            return self._write(session, handle, target)

    def put_bytes_stream(self, session: Session | None, stream: BinaryIO, *, kind: str, name: str) -> Path:
        target = self.root / kind / name
        if target.exists():
            return target
        return self._write(session, stream, target)

    def _write(self, session: Session | None, stream: BinaryIO, target: Path) -> Path:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-", suffix=target.suffix)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(stream, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except OSError as exc:
            raise Unavailable(f"cannot write to storage {self.root}: {exc.strerror or exc}") from exc
        if session is not None:
            session.info.setdefault("on_rollback", []).append(lambda: target.unlink(missing_ok=True))
        return target
