"""Profiling the current window on a Dask distributed cluster, partition by partition.

Each partition (a Parquet row group, a CSV chunk, a partition of a dask or pandas data frame) is
profiled on a worker; the profiles are merged pairwise on the workers (a tree), and only the
final profile comes back. Profiles merge exactly, so the result equals the local engine's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from governance.errors import InvalidInput, Unavailable
from monitors.drift.io import DEFAULT_CHUNK_ROWS, file_format, iter_chunks
from monitors.drift.profile import DatasetProfile, build_profile, merge
from monitors.drift.sketch import DEFAULT_MAX_BINS

logger = logging.getLogger(__name__)


def _profile_row_group(path: str, index: int, sample_size: int, max_bins: int) -> DatasetProfile:
    import pyarrow.parquet as pq

    frame = pq.ParquetFile(path).read_row_group(index).to_pandas()
    return build_profile(frame, sample_size=sample_size, max_bins=max_bins)


def _merge_pair(a: DatasetProfile, b: DatasetProfile) -> DatasetProfile:
    return merge(a, b)


def _frames(data: pd.DataFrame, partitions: int) -> Iterator[pd.DataFrame]:
    step = max(1, -(-len(data) // partitions))
    for start in range(0, max(len(data), 1), step):
        yield data.iloc[start : start + step]


def _connect(scheduler: Any, timeout: float) -> tuple[Any, bool]:
    from distributed import Client

    if isinstance(scheduler, Client):
        return scheduler, False
    if scheduler is None:
        raise InvalidInput("the dask engine needs a scheduler address (--scheduler tcp://host:8786)")
    try:
        return Client(scheduler, timeout=f"{timeout}s"), True
    except (OSError, TimeoutError) as exc:
        raise Unavailable(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc


def profile_with_dask(
    data: Any,
    *,
    scheduler: Any,
    partitions: int = 8,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    sample_size: int = 0,
    max_bins: int = DEFAULT_MAX_BINS,
    connect_timeout: float = 10.0,
) -> DatasetProfile:
    """The profile of ``data`` computed on the cluster at ``scheduler``.

    Parameters
    ----------
    data : str, Path, pandas.DataFrame or dask.dataframe.DataFrame
        A Parquet file (each worker reads its own row groups), a CSV file (read here chunk by
        chunk and shipped to the workers), or a data frame (split into ``partitions``).
    scheduler : str or distributed.Client
        The scheduler address, or a connected client.
    connect_timeout : float
        Seconds to wait for the scheduler before giving up with :class:`Unavailable`.
    """
    client, owned = _connect(scheduler, connect_timeout)
    try:
        futures: list[Any]
        if isinstance(data, str | Path):
            path = str(data)
            if file_format(path) == "parquet":
                import pyarrow.parquet as pq

                groups = pq.ParquetFile(path).metadata.num_row_groups
                futures = [
                    client.submit(_profile_row_group, path, i, sample_size, max_bins, pure=False)
                    for i in range(groups)
                ]
            else:
                futures = [
                    client.submit(
                        build_profile, chunk, sample_size=sample_size, max_bins=max_bins, pure=False
                    )
                    for chunk in iter_chunks(path, chunk_rows=chunk_rows)
                ]
        elif isinstance(data, pd.DataFrame):
            futures = [
                client.submit(build_profile, part, sample_size=sample_size, max_bins=max_bins, pure=False)
                for part in _frames(data, partitions)
            ]
        elif hasattr(data, "to_delayed"):
            parts = data.to_delayed()
            futures = [
                client.submit(build_profile, part, sample_size=sample_size, max_bins=max_bins, pure=False)
                for part in client.compute(parts)
            ]
        else:
            raise InvalidInput(
                f"the dask engine cannot read {type(data).__name__}: give a path or a data frame"
            )
        if not futures:
            raise InvalidInput("the current window is empty")
        logger.info("profiling %d partitions on %s", len(futures), client.scheduler.address)
        while len(futures) > 1:  # merge pairwise on the workers
            paired = [
                client.submit(_merge_pair, a, b, pure=False)
                for a, b in zip(futures[::2], futures[1::2], strict=False)
            ]
            futures = paired + ([futures[-1]] if len(futures) % 2 else [])
        profile: DatasetProfile = futures[0].result()
        return profile
    finally:
        if owned:
            client.close()
