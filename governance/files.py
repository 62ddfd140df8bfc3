"""Files on the local disk or on any file system fsspec opens, named by a path or a URL: hashing,
readability checks, storage roots and the file system a location is on.

No database here (the data layer and the pure checks read through it); :mod:`governance.storage`
adds the registry's writes, serialized by the database's advisory locks.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from governance.errors import InvalidInput

CHUNK = 1 << 20
StorageRoot = Path | str  # a local folder, or the URL of a folder on another file system
_SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*)://", re.IGNORECASE)


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


# -- roots and locations ---------------------------------------------------------------------------
def is_url(location: str | Path) -> bool:
    """Whether ``location`` names a file on a file system other than the local disk."""
    return isinstance(location, str) and _SCHEME.match(location) is not None


def parse_root(value: str | os.PathLike[str]) -> StorageRoot:
    """A storage root as a local :class:`Path` or a URL (text); one sentence when it cannot be used.

    ``file://`` URLs are local folders; any other scheme must be one fsspec knows and can load.
    """
    text = os.fspath(value)
    match = _SCHEME.match(text)
    if match is None:
        return Path(text)
    protocol = match.group(1).lower()
    if protocol in ("file", "local"):
        return Path(text[match.end() :] or "/")
    try:
        fsspec.get_filesystem_class(protocol)
    except ValueError as exc:
        raise InvalidInput(
            f"storage root {text} names file system {protocol!r}, which fsspec does not know"
        ) from exc
    except ImportError as exc:
        raise InvalidInput(f"storage root {text} needs a package that is not installed: {exc}") from exc
    rest = text[match.end() :].strip("/")
    check_parts(rest.split("/") if rest else [], text)
    return f"{protocol}://{rest}"


def filesystem(location: str | Path) -> tuple[fsspec.AbstractFileSystem, str]:
    """The file system a stored file's location is on, and its path there."""
    if not is_url(location):
        return LocalFileSystem(), str(location)
    text = str(location)
    protocol = text.split("://", 1)[0].lower()
    if protocol in ("file", "local"):
        return LocalFileSystem(), str(parse_root(text))
    try:
        fs, path = fsspec.core.url_to_fs(text)
    except (ValueError, ImportError) as exc:
        raise InvalidInput(f"location {text} is on a file system this process cannot open: {exc}") from exc
    return fs, path


def check_parts(parts: list[str], whole: str) -> None:
    """Refuse a storage name whose parts would leave the root (``..``, empty, a scheme, a backslash)."""
    for part in parts:
        if part in ("", ".", "..") or "\\" in part or "\x00" in part or _SCHEME.match(part):
            raise InvalidInput(f"storage name {whole!r} would leave the storage root")
