"""Reading data for the drift engine: CSV (also gzipped) in chunks, Parquet by row groups.

Nothing here holds more than one chunk at a time; :func:`profile_path` folds the chunks into one
profile as they come.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from governance.errors import InvalidInput
from monitors.drift.profile import DatasetProfile, build_profile, merge
from monitors.drift.sketch import DEFAULT_MAX_BINS

logger = logging.getLogger(__name__)

DEFAULT_CHUNK_ROWS = 500_000


def file_format(path: str | Path) -> str:
    """``parquet`` or ``csv`` (plain or compressed), from the file name."""
    name = str(path).lower()
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".csv", ".csv.gz", ".csv.bz2", ".csv.zip", ".csv.xz", ".gz", ".txt")):
        return "csv"
    raise InvalidInput(f"{path} is neither a CSV nor a Parquet file (by its name)")


def iter_chunks(path: str | Path, *, chunk_rows: int = DEFAULT_CHUNK_ROWS) -> Iterator[pd.DataFrame]:
    """Yield the file's rows as data frames: one per Parquet row group, or ``chunk_rows`` CSV rows."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path} does not exist or is not a file")
    kind = file_format(path)
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq

            parquet = pq.ParquetFile(path)
            if parquet.metadata.num_row_groups == 0:
                yield parquet.schema_arrow.empty_table().to_pandas()
            for i in range(parquet.metadata.num_row_groups):
                table = parquet.read_row_group(i)
                yield table.to_pandas(split_blocks=True, self_destruct=True)
                del table
        else:
            with pd.read_csv(path, chunksize=chunk_rows) as reader:
                first = True
                for chunk in reader:
                    first = False
                    yield chunk
                if first:
                    yield pd.read_csv(path)
    except InvalidInput:
        raise
    except pd.errors.EmptyDataError as exc:
        raise InvalidInput(f"{path} is empty: it has no header row") from exc
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        message = " ".join(str(exc).split())
        raise InvalidInput(f"{path} could not be read as {kind}: {message}") from exc


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
    return pd.concat(list(iter_chunks(path)), ignore_index=True)
