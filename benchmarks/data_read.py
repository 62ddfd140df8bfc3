"""What the one data layer (:mod:`governance.data`) costs over calling pandas / pyarrow directly.

Writes a ``--rows`` x ``--cols`` float table as CSV, gzipped CSV and Parquet, on the local disk and
on fsspec's in-memory file system (an object store's stand-in), and prints the best of
``--repeat`` reads through the data layer next to the direct library call that the readers made
before (``pd.read_csv`` / ``pd.read_parquet`` / ``pyarrow.csv.read_csv`` on a path). Run::

    python -m benchmarks.data_read [--rows 500000] [--cols 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq


def _best(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _arrow_csv(path: Path) -> pa.Table:
    with pa.input_stream(str(path), compression="detect") as stream:
        return pacsv.read_csv(stream)


def main() -> None:
    from governance import data

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--cols", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(args.rows, args.cols)), columns=[f"c{i}" for i in range(args.cols)])
    memory = fsspec.filesystem("memory")
    root = f"memory://bench-{uuid.uuid4().hex}"
    with tempfile.TemporaryDirectory() as tmp:
        files = {
            "rows.csv": lambda p: frame.to_csv(p, index=False),
            "rows.csv.gz": lambda p: frame.to_csv(p, index=False, compression="gzip"),
            "rows.parquet": lambda p: frame.to_parquet(p, index=False),
        }
        print(f"{args.rows:,} rows x {args.cols} columns, best of {args.repeat} (seconds)")
        print(f"{'file':<14}{'reader':<12}{'direct':>9}{'layer local':>13}{'layer memory':>14}")
        for name, write in files.items():
            path = Path(tmp) / name
            write(path)
            remote = f"{root}/{name}"
            memory.pipe_file(remote, path.read_bytes())
            if name.endswith(".parquet"):
                direct = {"frame": partial(pd.read_parquet, path), "table": partial(pq.read_table, path)}
            else:
                direct = {"frame": partial(pd.read_csv, path), "table": partial(_arrow_csv, path)}
            for reader, ours in (("frame", data.read_frame), ("table", data.read_table)):
                row = [
                    _best(direct[reader], args.repeat),
                    _best(partial(ours, path), args.repeat),
                    _best(partial(ours, remote), args.repeat),
                ]
                print(f"{name:<14}{reader:<12}{row[0]:>9.3f}{row[1]:>13.3f}{row[2]:>14.3f}")
    memory.rm(root, recursive=True)


if __name__ == "__main__":
    main()
