"""What one scheduled data-drift window costs: monitor time and bytes stored (issue 15's cheap windows).

A real world (the demo's digits classifier: 64 features; a SQLite registry; production records in
Parquet batches) gets windows of ``--rows`` records; data-drift monitors run them through the
runner (claim, load, check, store). It prints the monitor time per window (median and worst, the
reference profile already built), the bytes each run stores (its JSON row plus any file it writes
under the storage root), and, with ``--draw``, what drawing the Evidently report on demand costs
once someone opens a run. Run::

    python -m benchmarks.window [--rows 150] [--windows 4] [--monitors 5] [--draw]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

TARGET_MS = 100
TARGET_BYTES = 100_000


def _files_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.is_dir() else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=150, help="records per window")
    parser.add_argument("--windows", type=int, default=4)
    parser.add_argument("--monitors", type=int, default=5, help="data-drift monitors over the same windows")
    parser.add_argument("--draw", action="store_true", help="also draw one report on demand")
    args = parser.parse_args()

    import logging

    logging.disable(logging.WARNING)
    from governance.cli import scenario
    from governance.db import Database
    from governance.migrate import upgrade
    from governance.mlmodel import service as model_service
    from governance.monitoring import service as monitoring
    from governance.monitoring.models import MonitorRun
    from governance.monitoring.schedule import Window
    from governance.production import service as production
    from governance.settings import Settings
    from monitors.reports import RunReports
    from trainer.workflows import run_window

    plan = scenario.Scenario(
        windows=args.windows, drift_from=args.windows // 2, rows_per_window=args.rows, epochs=3
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        settings = Settings(
            database_url=f"sqlite:///{root / 'govern.db'}", storage_root=root / "storage", actor="bench"
        )
        db = Database(settings.database_url)
        upgrade(db.engine)
        pool = scenario.deploy(db, settings, root / "work", plan, lambda _: None)
        scenario.stream(db, settings, root / "work", plan, pool, lambda _: None)
        start = scenario.first_window(plan)
        with db.transaction() as s:
            mv = model_service.get_by_ref(s, f"{scenario.MODEL}@1")
            features = len(production.feature_schema(mv) or [])
            ids = [
                monitoring.create(
                    s, name=f"drift-{i}", mv=mv, kind="data_drift", schedule="every 1h", window="1h",
                    start_at=start, actor="bench",
                ).id
                for i in range(args.monitors)
            ]  # fmt: skip
        reports_dir = settings.storage_root / "reports"
        durations: list[float] = []
        cpu_times: list[float] = []
        stored: list[int] = []
        first_ms = None
        for n, monitor_id in enumerate(ids):
            for w in range(args.windows):
                window = Window(start + timedelta(hours=w), start + timedelta(hours=w + 1))
                files_before = _files_bytes(reports_dir)
                began, cpu_began = time.perf_counter(), time.process_time()
                report = run_window(
                    db, monitor_id=monitor_id, window=window, worker="bench", actor="bench",
                    storage_root=settings.storage_root,
                )  # fmt: skip
                elapsed = (time.perf_counter() - began) * 1000
                cpu = (time.process_time() - cpu_began) * 1000
                assert report is not None and report.status in ("ok", "warning", "breach"), report
                with db.transaction() as s:
                    run = s.get(MonitorRun, report.run_id)
                    assert run is not None
                    row = json.dumps(
                        {"metrics": run.metrics, "thresholds": run.thresholds, "details": run.details}
                    )
                stored.append(len(row.encode()) + _files_bytes(reports_dir) - files_before)
                if n == 0 and w == 0:
                    first_ms = elapsed  # builds the reference profile once
                else:
                    durations.append(elapsed)
                    cpu_times.append(cpu)
                last_run = report.run_id
        print(f"window: {args.rows} rows x {features} columns, {len(durations) + 1} runs through the runner")
        print(f"first window (builds the reference profile): {first_ms:.0f} ms")
        median, worst = statistics.median(durations), max(durations)
        print(
            f"monitor time per window: median {median:.1f} ms, max {worst:.1f} ms   (target <= {TARGET_MS} ms)"
        )
        print(
            f"CPU time per window: median {statistics.median(cpu_times):.1f} ms, "
            f"max {max(cpu_times):.1f} ms (the wall time above includes waiting for a busy machine)"
        )
        print(f"stored per window: {max(stored) / 1000:.1f} kB   (target <= {TARGET_BYTES / 1000:.0f} kB)")
        if args.draw:
            began = time.perf_counter()
            path = RunReports(db, settings.storage_root).path_for(last_run)
            drawn = time.perf_counter() - began
            began = time.perf_counter()
            RunReports(db, settings.storage_root).path_for(last_run)
            cached = (time.perf_counter() - began) * 1000
            print(
                f"report on demand: drawn in {drawn:.1f} s ({path.stat().st_size / 1e6:.1f} MB, cached), "
                f"served again from the cache in {cached:.1f} ms"
            )
        db.dispose()


if __name__ == "__main__":
    main()
