"""Reading what a dataset file is: format, size, rows, column schema, content hash.

Which suffixes the registry accepts is decided here; reading is :mod:`governance.data`'s (CSV
streamed in blocks, Parquet read from its footer, so a large file is never loaded whole).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from governance import data
from governance.errors import InvalidInput
from governance.files import check_readable, sha256_file

REGISTERED_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq", ".npz")
SUFFIXES = {suffix: data.SUFFIXES[suffix] for suffix in REGISTERED_SUFFIXES}  # the format each one is


@dataclass(frozen=True)
class DatasetFile:
    path: Path
    format: str
    suffix: str
    sha256: str
    size_bytes: int
    rows: int
    columns: list[dict[str, Any]]


def file_suffix(path: Path) -> str:
    suffix = data.suffix_of(path.name, SUFFIXES)
    if suffix is not None:
        return suffix
    raise InvalidInput(f"file {path} has an unsupported format (expected .csv, .csv.gz, .parquet or .npz)")


def _table(path: Path, fmt: str) -> tuple[int, list[dict[str, Any]]]:
    rows, schema = data.scan(path, format=fmt)
    return rows, [{"name": f.name, "type": str(f.type)} for f in schema]


def _npz(path: Path) -> tuple[int, list[dict[str, Any]]]:
    arrays = data.read_arrays(path, format="npz")
    lengths = {len(a) if a.ndim else 1 for a in arrays.values()}
    rows = max(lengths)
    columns = [{"name": name, "type": str(a.dtype), "shape": list(a.shape)} for name, a in arrays.items()]
    return rows, columns


def inspect_file(path: Path) -> DatasetFile:
    """Format, size, rows, schema and sha256 of a dataset file; malformed files raise InvalidInput."""
    path = check_readable(Path(path))
    suffix = file_suffix(path)
    fmt = SUFFIXES[suffix]
    sha = sha256_file(path)
    rows, columns = _npz(path) if fmt == "npz" else _table(path, fmt)
    return DatasetFile(path.absolute(), fmt, suffix, sha, path.stat().st_size, rows, columns)
