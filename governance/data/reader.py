"""The one reader of data files: CSV (plain or compressed), TSV, Parquet and NPZ, on any storage.

A registered dataset version is read in the format the registry recorded for it
(``DatasetVersion.format``), whatever its stored file is called; any other file by its name's
suffix (:data:`SUFFIXES`). Compression of CSV is recognised from the content, not the name.
Locations are local paths or storage URLs (``memory://...``, ``s3://...``): everything is opened
through :func:`governance.storage.filesystem`.

Large files are read in chunks (:func:`iter_chunks`: Parquet by row groups, CSV by ``chunk_rows``
rows), so a caller that folds them never holds the whole file. Every failure is an
:class:`~governance.errors.InvalidInput` with one sentence naming the problem: the file is missing,
its format is unsupported, it cannot be read (corrupt, truncated, not what it claims to be), or it
lacks columns the caller asked for.

>>> import pandas as pd, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.pq"
>>> pd.DataFrame({"x": [1, 2, 3], "y": [0, 1, 0]}).to_parquet(path)
>>> read_frame(path, columns=["y"], max_rows=2)["y"].tolist()
[0, 1]
>>> read_frame(path, columns=["z"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
governance.errors.InvalidInput: file .../rows.pq lacks column(s) 'z'
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from governance.errors import InvalidInput
from governance.files import filesystem, is_url

DEFAULT_CHUNK_ROWS = 500_000
FORMATS = {"csv": "CSV", "tsv": "TSV", "parquet": "Parquet file", "npz": "NPZ archive"}
SUFFIXES = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".csv.bz2": "csv",
    ".csv.xz": "csv",
    ".csv.zip": "csv",
    ".gz": "csv",
    ".txt": "csv",
    ".tsv": "tsv",
    ".tsv.gz": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
}
_MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bz2", b"\xfd7zXZ\x00": "xz", b"PK\x03\x04": "zip"}
_READ_ERRORS = (
    pa.ArrowException,
    OSError,
    EOFError,
    ValueError,  # also UnicodeDecodeError and pandas' ParserError
    zipfile.BadZipFile,
    pd.errors.ParserError,
)


@runtime_checkable
class Registered(Protocol):
    """A registered dataset version (or anything else that knows its location and format)."""

    @property
    def location(self) -> str: ...

    @property
    def format(self) -> str: ...


Source = Path | str | Registered


@dataclass(frozen=True)
class DataFile:
    """A file to read: where it is, in which format, and how messages name it."""

    location: str
    format: str
    what: str = "file"

    @property
    def name(self) -> str:
        return f"{self.what} {self.location}"

    def problem(self, text: str) -> InvalidInput:
        return InvalidInput(f"{self.name} {text}")

    def unreadable(self, exc: BaseException) -> InvalidInput:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        if isinstance(exc, pa.ArrowInvalid) and reason.startswith("Empty CSV file"):
            return self.problem("is empty: it has no header row")  # as pandas' reader says it
        return self.problem(f"is not a readable {FORMATS[self.format]}: {reason}")


def suffix_of(name: str | Path, suffixes: Iterable[str] = SUFFIXES) -> str | None:
    """The longest of ``suffixes`` that ``name`` ends with (case aside), or None."""
    lowered = str(name).lower()
    return next((s for s in sorted(suffixes, key=len, reverse=True) if lowered.endswith(s)), None)


def format_of(name: str | Path, *, what: str = "file") -> str:
    """The format a file name's suffix says (``csv``, ``tsv``, ``parquet`` or ``npz``)."""
    suffix = suffix_of(name)
    if suffix is not None:
        return SUFFIXES[suffix]
    raise InvalidInput(
        f"{what} {name} has an unsupported format (expected CSV, gzipped CSV, TSV, Parquet or NPZ)"
    )


def open_data(source: Source, *, format: str | None = None, what: str = "file") -> DataFile:
    """``source`` checked: it exists, is a file and has a format this reader knows."""
    if isinstance(source, str | Path):
        location = str(source)
        fmt = format or format_of(location, what=what)
    elif isinstance(source, Registered):
        location, fmt = source.location, format or source.format
    else:
        raise TypeError(f"cannot read data from {type(source).__name__}")
    file = DataFile(location, fmt, what)
    if fmt not in FORMATS:
        raise file.problem(f"has an unsupported format {fmt!r} (expected csv, tsv, parquet or npz)")
    fs, path = filesystem(location)
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise file.problem("does not exist") from None
    except OSError as exc:
        raise file.problem(f"cannot be read: {exc.strerror or exc}") from exc
    if info.get("type") != "file":
        raise file.problem("is not a regular file")
    return file


@contextmanager
def _binary(file: DataFile) -> Iterator[IO[bytes]]:
    fs, path = filesystem(file.location)
    try:
        handle = fs.open(path, "rb")
    except PermissionError:
        raise file.problem("cannot be read (permission denied)") from None
    except FileNotFoundError:
        raise file.problem("does not exist") from None
    except OSError as exc:
        raise file.problem(f"cannot be read: {exc.strerror or exc}") from exc
    with handle:
        yield handle


def _compression(handle: IO[bytes]) -> str | None:
    head = handle.read(6)
    handle.seek(0)
    return next((codec for magic, codec in _MAGIC.items() if head.startswith(magic)), None)


def _check_columns(file: DataFile, present: list[str], columns: list[str] | None) -> None:
    missing = [c for c in columns or [] if c not in present]
    if missing:
        raise file.problem(f"lacks column(s) {', '.join(repr(c) for c in missing)}")


# -- frames -----------------------------------------------------------------------------------------
def iter_chunks(
    source: Source,
    columns: list[str] | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    max_rows: int | None = None,
    format: str | None = None,
    what: str = "file",
) -> Iterator[pd.DataFrame]:
    """The file's rows as data frames: one per Parquet row group, or ``chunk_rows`` CSV rows.

    At least one frame comes (empty, with the columns, when the file has no rows); ``columns``
    picks and orders the columns; ``max_rows`` stops after that many rows.
    """
    file = open_data(source, format=format, what=what)
    if file.format == "npz":
        frame = _npz_frame(file)
        yield _select(file, frame, columns).iloc[: max_rows if max_rows is not None else len(frame)]
        return
    if file.format == "parquet" and not is_url(file.location):
        yield from _parquet_chunks(file, file.location, columns, max_rows)  # read natively, memory-mapped
        return
    with _binary(file) as handle:
        if file.format == "parquet":
            yield from _parquet_chunks(file, handle, columns, max_rows)
        else:
            yield from _csv_chunks(file, handle, columns, chunk_rows, max_rows)


def read_frame(
    source: Source,
    columns: list[str] | None = None,
    max_rows: int | None = None,
    *,
    format: str | None = None,
    what: str = "file",
) -> pd.DataFrame:
    """The whole file (or its first ``max_rows`` rows, its ``columns``) as one data frame."""
    chunks = list(
        iter_chunks(
            source, columns, chunk_rows=DEFAULT_CHUNK_ROWS, max_rows=max_rows, format=format, what=what
        )
    )
    return chunks[0] if len(chunks) == 1 else pd.concat(chunks, ignore_index=True)


def _select(file: DataFile, frame: pd.DataFrame, columns: list[str] | None) -> pd.DataFrame:
    if columns is None:
        return frame
    _check_columns(file, [str(c) for c in frame.columns], columns)
    return frame[columns]


def _parquet_chunks(
    file: DataFile, handle: IO[bytes] | str, columns: list[str] | None, max_rows: int | None
) -> Iterator[pd.DataFrame]:
    try:
        parquet = pq.ParquetFile(handle)
        _check_columns(file, parquet.schema_arrow.names, columns)
        if parquet.metadata.num_row_groups == 0 or max_rows == 0:
            yield parquet.schema_arrow.empty_table().select(columns or parquet.schema_arrow.names).to_pandas()
            return
        left = max_rows
        for i in range(parquet.metadata.num_row_groups):
            table = parquet.read_row_group(i, columns=columns)
            if left is not None:
                table = table.slice(0, left)
                left -= table.num_rows
            yield table.to_pandas(split_blocks=True, self_destruct=True)
            del table
            if left == 0:
                return
    except InvalidInput:
        raise
    except _READ_ERRORS as exc:
        raise file.unreadable(exc) from exc


def _csv_chunks(
    file: DataFile, handle: IO[bytes], columns: list[str] | None, chunk_rows: int, max_rows: int | None
) -> Iterator[pd.DataFrame]:
    wanted = set(columns) if columns is not None else None
    options: dict[str, Any] = {
        "sep": "\t" if file.format == "tsv" else ",",
        "compression": _compression(handle),
        "usecols": (lambda c: c in wanted) if wanted is not None else None,
    }
    try:
        first = True
        with pd.read_csv(handle, chunksize=chunk_rows, nrows=max_rows, **options) as reader:
            for chunk in reader:
                if first:
                    _check_columns(file, [str(c) for c in chunk.columns], columns)
                first = False
                yield chunk[columns] if columns is not None else chunk
        if first:  # a header and no rows: one empty frame with its columns
            handle.seek(0)
            empty = pd.read_csv(handle, nrows=0, **options)
            _check_columns(file, [str(c) for c in empty.columns], columns)
            yield empty[columns] if columns is not None else empty
    except InvalidInput:
        raise
    except pd.errors.EmptyDataError:
        raise file.problem("is empty: it has no header row") from None
    except _READ_ERRORS as exc:
        raise file.unreadable(exc) from exc


# -- Arrow tables and arrays ------------------------------------------------------------------------
def read_table(
    source: Source,
    columns: list[str] | None = None,
    *,
    filters: Any = None,
    format: str | None = None,
    what: str = "file",
) -> pa.Table:
    """The file as an Arrow table (CSV types as Arrow infers them); Parquet rows kept by ``filters``
    (a ``pyarrow.compute`` expression)."""
    file = open_data(source, format=format, what=what)
    if file.format == "npz":
        return pa.Table.from_pandas(_select(file, _npz_frame(file), columns), preserve_index=False)
    try:
        if file.format == "parquet":
            return _parquet_table(file, columns, filters)
        with _csv_stream(file) as stream:
            parse = pacsv.ParseOptions(delimiter="\t" if file.format == "tsv" else ",")
            table = pacsv.read_csv(stream, parse_options=parse)
    except InvalidInput:
        raise
    except _READ_ERRORS as exc:
        raise file.unreadable(exc) from exc
    _check_columns(file, table.schema.names, columns)
    return table.select(columns) if columns is not None else table


def _parquet_table(file: DataFile, columns: list[str] | None, filters: Any) -> pa.Table:
    fs, path = filesystem(file.location)
    native = fs if is_url(file.location) else None  # a local file is read natively, memory-mapped
    try:
        return pq.read_table(path, filesystem=native, columns=columns, filters=filters)
    except _READ_ERRORS as exc:
        if columns is not None:  # name the missing columns rather than Arrow's FieldRef message
            try:
                names = pq.read_schema(path, filesystem=native).names
            except _READ_ERRORS:
                names = None
            if names is not None:
                _check_columns(file, names, columns)
        raise file.unreadable(exc) from exc


@contextmanager
def _csv_stream(file: DataFile) -> Iterator[Any]:
    """The CSV's decompressed bytes as an Arrow input stream (a local file read natively)."""
    with _binary(file) as handle:
        codec = _compression(handle)
        if not is_url(file.location) and codec in (None, "gzip", "bz2"):
            with pa.input_stream(file.location, compression=codec) as native:
                yield native
            return
        yield pa.PythonFile(_decompressed(handle, codec), mode="r")


def _decompressed(handle: IO[bytes], codec: str | None) -> Any:
    """``handle``'s bytes as they were before ``codec`` compressed them (a binary file object)."""
    if codec == "gzip":
        return gzip.GzipFile(fileobj=handle)
    if codec == "bz2":
        return bz2.BZ2File(handle)
    if codec == "xz":
        return lzma.LZMAFile(handle)
    if codec == "zip":
        archive = zipfile.ZipFile(handle)
        names = archive.namelist()
        if len(names) != 1:
            raise ValueError(f"a zipped CSV holds one file, this one {len(names)}")
        return archive.open(names[0])
    return handle


def scan(source: Source, *, format: str | None = None, what: str = "file") -> tuple[int, pa.Schema]:
    """Rows and Arrow schema of a CSV or Parquet file: Parquet from its footer, CSV streamed in
    blocks, so a large file is never loaded whole."""
    file = open_data(source, format=format, what=what)
    if file.format not in ("csv", "tsv", "parquet"):
        raise file.problem(f"is a {FORMATS[file.format]}, not a table")
    try:
        if file.format == "parquet":
            with _binary(file) as handle:
                parquet = pq.ParquetFile(handle)
                return parquet.metadata.num_rows, parquet.schema_arrow
        with _csv_stream(file) as stream:
            reader = pacsv.open_csv(
                stream,
                read_options=pacsv.ReadOptions(block_size=1 << 22),
                parse_options=pacsv.ParseOptions(delimiter="\t" if file.format == "tsv" else ","),
            )
            rows = sum(batch.num_rows for batch in reader)
    except InvalidInput:
        raise
    except _READ_ERRORS as exc:
        raise file.unreadable(exc) from exc
    if not reader.schema.names:
        raise file.problem(f"is not a readable {FORMATS[file.format]}: it has no columns")
    return rows, reader.schema


def read_arrays(source: Source, *, format: str | None = None, what: str = "file") -> dict[str, np.ndarray]:
    """The arrays of an NPZ archive (never unpickled)."""
    file = open_data(source, format=format, what=what)
    if file.format != "npz":
        raise file.problem(f"is a {FORMATS[file.format]}, not an NPZ archive")
    with _binary(file) as handle:
        try:
            with np.load(handle, allow_pickle=False) as archive:
                arrays = {name: archive[name] for name in archive.files}
        except _READ_ERRORS as exc:
            raise file.unreadable(exc) from exc
    if not arrays:
        raise file.problem("is an NPZ archive with no arrays")
    return arrays


def _npz_frame(file: DataFile) -> pd.DataFrame:
    arrays = read_arrays(file.location, format="npz", what=file.what)
    lengths = {len(a) if a.ndim else 1 for a in arrays.values()}
    if any(a.ndim != 1 for a in arrays.values()) or len(lengths) != 1:
        raise file.problem("is an NPZ archive whose arrays are not columns of one length")
    return pd.DataFrame(arrays)
