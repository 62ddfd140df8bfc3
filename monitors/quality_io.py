"""Reading a data file for the quality checks: the I/O side of :mod:`monitors.quality`."""

from __future__ import annotations

from typing import Any

from governance import data
from monitors.quality import assess_quality

MAX_REGISTRATION_ROWS = 2_000_000


def file_report(
    path: data.Source, *, label: str | None, max_rows: int = MAX_REGISTRATION_ROWS
) -> dict[str, Any] | None:
    """The quality report stored with a dataset version when it is registered.

    CSV (also gzipped) and Parquet files up to ``max_rows`` rows are read whole; larger files and
    NPZ arrays get no report at registration (``govern quality`` runs it on demand). A label that
    is not a column is left to the registry's own validation.
    """
    fmt = data.open_data(path).format
    if fmt not in ("csv", "parquet") or (fmt == "parquet" and data.scan(path)[0] > max_rows):
        return None  # a Parquet file's rows are in its footer: a large one is not read at all
    frame = data.read_frame(path, max_rows=max_rows + 1)
    if len(frame) > max_rows:
        return None
    report = assess_quality(frame, label=label if label in frame.columns else None)
    result: dict[str, Any] = report.to_dict()
    return result
