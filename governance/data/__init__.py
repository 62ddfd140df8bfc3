"""One reader of data files; see :mod:`governance.data.reader`."""

from governance.data.reader import (
    DEFAULT_CHUNK_ROWS,
    FORMATS,
    SUFFIXES,
    DataFile,
    Registered,
    Source,
    format_of,
    iter_chunks,
    open_data,
    read_arrays,
    read_frame,
    read_table,
    scan,
    suffix_of,
)

__all__ = [
    "DEFAULT_CHUNK_ROWS",
    "FORMATS",
    "SUFFIXES",
    "DataFile",
    "Registered",
    "Source",
    "format_of",
    "iter_chunks",
    "open_data",
    "read_arrays",
    "read_frame",
    "read_table",
    "scan",
    "suffix_of",
]
