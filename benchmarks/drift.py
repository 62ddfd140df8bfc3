"""Drift engine benchmarks.

Default: 1,000,000 rows x 20 numeric columns, the engine and Evidently 0.7's ``DataDriftPreset``
side by side in this process: both times, the ratio, the verdicts' agreement, peak memory.

``--big``: writes a 10,000,000 x 50 Parquet current window (row groups of 500,000 rows) and a
1,000,000 x 50 reference under /tmp, profiles the reference once, then streams the current window
by row groups through the engine; prints wall time and peak RSS.

    python benchmarks/drift.py [--rows 1000000] [--columns 20]
    python benchmarks/drift.py --big [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.drift import detect_drift
from monitors.drift.engine import get_method
from monitors.drift.io import profile_path


class PeakRss:
    """Samples this process's RSS every 5 ms while active; ``peak`` is the highest seen."""

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self) -> PeakRss:
        self.peak = self.process.memory_info().rss
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def numeric_frame(rows: int, columns: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data = {}
    for i in range(columns):
        kind = i % 4
        moved = shift if i % 3 == 0 else 0.0
        if kind == 0:
            data[f"x{i}"] = rng.normal(moved, 1.0, rows)
        elif kind == 1:
            data[f"x{i}"] = rng.lognormal(moved, 1.0, rows)
        elif kind == 2:
            data[f"x{i}"] = rng.standard_t(3, rows) + moved
        else:
            data[f"x{i}"] = np.round(rng.normal(100 + moved, 5.0, rows), 2)
    return pd.DataFrame(data)


def side_by_side(rows: int, columns: int) -> None:
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = numeric_frame(rows, columns, 1, 0.0)
    current = numeric_frame(rows, columns, 2, 0.25)
    print(f"data: {rows:,} rows x {columns} numeric columns on each side; {os.cpu_count()} cores")

    with PeakRss() as ours_rss:
        start = time.perf_counter()
        ours = detect_drift(reference, current, preset="evidently")
        ours_s = time.perf_counter() - start
    with PeakRss() as theirs_rss, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        snapshot = Report([DataDriftPreset()]).run(current, reference)
        theirs_s = time.perf_counter() - start

    values = {
        m["config"]["column"]: (m["config"]["method"], float(m["value"]))
        for m in snapshot.dict()["metrics"]
        if "column" in m["config"]
    }
    same_method = sum(values[c.column][0] == c.method for c in ours.columns)
    worst = max(
        abs(values[c.column][1] - c.score) / max(abs(values[c.column][1]), 1e-12) for c in ours.columns
    )
    same_verdict = sum(
        get_method(values[c.column][0]).drifted(values[c.column][1], c.threshold) == c.drift_detected
        for c in ours.columns
    )
    base = psutil.Process().memory_info().rss
    print(f"drifted columns: ours {ours.drifted_count}, dataset drift {ours.dataset_drift}")
    print(f"ours:      {ours_s:8.2f} s   peak RSS {ours_rss.peak / 2**30:.2f} GiB")
    print(f"evidently: {theirs_s:8.2f} s   peak RSS {theirs_rss.peak / 2**30:.2f} GiB")
    print(f"speed-up:  {theirs_s / ours_s:8.1f}x")
    print(
        f"agreement: methods {same_method}/{len(ours.columns)}, verdicts {same_verdict}/{len(ours.columns)}, "
        f"max relative score difference {worst:.2e}"
    )
    bound = max(c.score_error for c in ours.columns)
    print(f"largest score error bound from binning (normed Wasserstein units): {bound:.2e}")
    print(f"(process RSS now {base / 2**30:.2f} GiB, data frames included)")


def write_big(directory: Path, rows: int, reference_rows: int, columns: int, group: int) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    for name, total, shift, seed in (("reference", reference_rows, 0.0, 10), ("current", rows, 0.25, 20)):
        path = directory / f"drift-{name}-{total}x{columns}-{shift}.parquet"
        if path.exists():
            continue
        writer = None
        for start in range(0, total, group):
            frame = numeric_frame(min(group, total - start), columns, seed + start, shift)
            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(str(path) + ".tmp", table.schema)
            writer.write_table(table, row_group_size=group)
        assert writer is not None
        writer.close()
        os.replace(str(path) + ".tmp", path)


def big(keep: bool) -> None:
    rows, reference_rows, columns, group = 10_000_000, 1_000_000, 50, 500_000
    directory = Path("/tmp")
    start = time.perf_counter()
    # written by a child process, so this process's peak RSS is the engine's alone
    subprocess.run(
        [sys.executable, __file__, "--write", str(rows), str(reference_rows), str(columns), str(group)],
        check=True,
    )
    print(f"wrote the Parquet files in {time.perf_counter() - start:.1f} s")
    reference_path = directory / f"drift-reference-{reference_rows}x{columns}-0.0.parquet"
    current_path = directory / f"drift-current-{rows}x{columns}-0.25.parquet"
    with PeakRss() as rss:
        start = time.perf_counter()
        reference = profile_path(reference_path)
        profiled = time.perf_counter()
        result = detect_drift(reference, profile_path(current_path), preset="evidently")
        done = time.perf_counter()
    print(f"reference {reference_rows:,} x {columns}: profiled in {profiled - start:.1f} s")
    print(
        f"current {rows:,} x {columns} streamed by row groups of {group:,}: {done - profiled:.1f} s "
        f"({rows * columns / (done - profiled) / 1e6:.0f} M values/s)"
    )
    print(
        f"{result.drifted_count} of {len(result.columns)} columns drifted; dataset drift {result.dataset_drift}"
    )
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        f"peak RSS: {rss.peak / 2**30:.2f} GiB sampled, {max_rss / 2**30:.2f} GiB getrusage (whole process)"
    )
    if not keep:
        reference_path.unlink()
        current_path.unlink()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--write":
        rows, reference_rows, columns, group = map(int, sys.argv[2:6])
        write_big(Path("/tmp"), rows, reference_rows, columns, group)
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--columns", type=int, default=20)
    parser.add_argument("--big", action="store_true", help="10M x 50 Parquet, streamed")
    parser.add_argument("--keep", action="store_true", help="keep the --big Parquet files in /tmp")
    args = parser.parse_args()
    if args.big:
        big(args.keep)
    else:
        side_by_side(args.rows, args.columns)


if __name__ == "__main__":
    main()
