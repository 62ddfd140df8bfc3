"""Reading what a dataset file is: format, size, rows, column schema, content hash.

CSV is streamed in blocks and Parquet read from its footer, so a large file is never loaded whole.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from governance.errors import InvalidInput
from governance.storage import check_readable, sha256_file

SUFFIXES = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


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
    name = path.name.lower()
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise InvalidInput(f"file {path} has an unsupported format (expected .csv, .csv.gz, .parquet or .npz)")


def _csv(path: Path) -> tuple[int, list[dict[str, Any]]]:
    rows = 0
    try:
        with pa.input_stream(str(path), compression="detect") as stream:
            reader = pacsv.open_csv(stream, read_options=pacsv.ReadOptions(block_size=1 << 22))
            schema = reader.schema
            for batch in reader:
                rows += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError, EOFError) as exc:
        raise InvalidInput(f"file {path} is not a readable CSV: {' '.join(str(exc).split())}") from exc
    if not schema.names:
        raise InvalidInput(f"file {path} is not a readable CSV: it has no columns")
    return rows, [{"name": f.name, "type": str(f.type)} for f in schema]


def _parquet(path: Path) -> tuple[int, list[dict[str, Any]]]:
    try:
        parquet = pq.ParquetFile(str(path))
        schema = parquet.schema_arrow
        rows = parquet.metadata.num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(
            f"file {path} is not a readable Parquet file: {' '.join(str(exc).split())}"
        ) from exc
    return rows, [{"name": f.name, "type": str(f.type)} for f in schema]


def _npz(path: Path) -> tuple[int, list[dict[str, Any]]]:
    try:
        with np.load(str(path), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise InvalidInput(
            f"file {path} is not a readable NPZ archive: {' '.join(str(exc).split())}"
        ) from exc
    if not arrays:
        raise InvalidInput(f"file {path} is an NPZ archive with no arrays")
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
    reader = {"csv": _csv, "parquet": _parquet, "npz": _npz}[fmt]
    rows, columns = reader(path)
    return DatasetFile(path.absolute(), fmt, suffix, sha, path.stat().st_size, rows, columns)
