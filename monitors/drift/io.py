"""Reading data for the drift engine: CSV (also gzipped) in chunks, Parquet by row groups
(through :mod:`governance.data`, the one reader of data files).

Nothing here holds more than one chunk at a time; :func:`profile_path` folds the chunks into one
profile as they come.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from governance import data
from governance.data import DEFAULT_CHUNK_ROWS
from governance.errors import InvalidInput
from monitors.drift.profile import DatasetProfile, build_profile, merge
from monitors.drift.sketch import DEFAULT_MAX_BINS

logger = logging.getLogger(__name__)


def file_format(path: str | Path) -> str:
    """``parquet``, ``csv`` (plain or compressed) or ``tsv``, from the file name."""
    fmt = data.format_of(path)
    if fmt == "npz":
        raise InvalidInput(f"file {path} is an NPZ archive, not a table of columns to profile")
    return fmt


def iter_chunks(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the file's rows as data frames: one per Parquet row group, or ``chunk_rows`` CSV rows."""
    file_format(path)
    return data.iter_chunks(path, chunk_rows=chunk_rows)


def profile_path(
    path: str | Path,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sample_size: int = 0,
    max_bins: int = DEFAULT_MAX_BINS,
) -> DatasetProfile:
    """Profile a CSV or Parquet file chunk by chunk, in memory bounded by one chunk."""
    profile: DatasetProfile | None = None
    for chunk in iter_chunks(path, chunk_rows=chunk_rows):
        part = build_profile(chunk, sample_size=sample_size, max_bins=max_bins)
        del chunk
        profile = part if profile is None else merge(profile, part)
        logger.info("profiling %s: %d rows so far", Path(path).name, profile.rows)  # a CLI's status line
    assert profile is not None
    logger.info("profiled %s: %d rows, %d columns", path, profile.rows, len(profile.columns))
    return profile


def read_frame(path: str | Path) -> pd.DataFrame:
    """The whole file as one data frame (for small inputs and the HTML report)."""
    file_format(path)
    return data.read_frame(path)
