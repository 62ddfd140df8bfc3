"""A thousand models on one scheduler (issue 15): an hour of 3,000 monitor windows, one scheduler
process and then two, against the target.

The world is built through the services: ``--models`` model versions (each with a license, trained
on one of six shared datasets and compared with another, every fifth fine-tuned from the one before,
all in production), each with an hour of ``--rows`` production records (and their labels) and an
hour before it as the baseline, and three monitors with hourly windows: data drift, concept drift
and model drift (latency and errors against the baseline hour). Every tenth model drifts, so some
windows breach and open alerts. The database is a SQLite file.

Each run starts from a copy of that database, makes the hour's windows due, and starts the
schedulers as real processes (``govern scheduler --once``, each with a pool of
``GOVERN_SCHEDULER_PROCESSES`` processes, one per core by default); the windows are claimed in the
database. It prints windows per second, the time for the hour's work, the peak memory (all of a
run's processes together, sampled, and the largest one) and the database size, beside the target,
then checks that every window ran exactly once. Run::

    python -m benchmarks.scale [--quick] [--models 1000] [--rows 500] [--processes 0]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 600  # an hour of 3,000 windows within 10 minutes, one scheduler, this machine
HOUR = datetime(2025, 6, 2, 10, tzinfo=UTC)  # the monitored hour; the hour before it is the baseline
FEATURES = [f"x{i}" for i in range(8)]
KINDS = ("data_drift", "concept_drift", "model_drift")
DATASET_LICENSES = ("CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", "ODbL-1.0", "CC-BY-NC-4.0", "MIT")


@dataclass(frozen=True)
class World:
    models: int
    monitors: int
    records: int
    seconds: float


def _datasets(db: object, folder: Path, rng: np.random.Generator) -> list[str]:
    from governance.db import Database
    from governance.storage import LocalStorage
    from trainer.workflows import register_dataset_with_quality

    assert isinstance(db, Database)
    refs: list[str] = []
    with db.transaction() as session:
        for i, license in enumerate(DATASET_LICENSES):
            path = folder / f"scale-data-{i}.csv"
            x = rng.normal(0, 1, (1000, len(FEATURES)))
            label = (x[:, 0] + x[:, 1] > 0).astype(int)
            rows = "".join(",".join(f"{v:.4f}" for v in r) + f",{y}\n" for r, y in zip(x, label, strict=True))
            path.write_text(",".join(FEATURES) + ",label\n" + rows)
            personal = "pseudonymous" if i % 3 == 0 else "none"
            register_dataset_with_quality(
                session,
                file=path,
                storage=LocalStorage(folder / "storage"),
                name=f"scale-data-{i}",
                version="1",
                license_expression=license,
                actor="scale",
                label_column="label",
                personal_data=personal,
                legal_basis="GDPR Art. 6(1)(f) legitimate interest" if personal != "none" else None,
                jurisdictions=["GDPR"] if personal != "none" else [],
                derived_from=[refs[-1]] if i % 2 and refs else [],
            )
            refs.append(f"scale-data-{i}@1")
    return refs


def _records(i: int, rows: int, rng: np.random.Generator) -> tuple[pa.Table, pa.Table]:
    """Two hours of predictions (the baseline hour, then the monitored one) and the monitored hour's labels."""
    drifts = i % 10 == 9
    start = HOUR - timedelta(hours=1)
    seconds = np.sort(rng.uniform(0, 7200, 2 * rows))
    x = rng.normal(0, 1, (2 * rows, len(FEATURES)))
    late = seconds >= 3600
    if drifts:
        x[late, :4] += 1.5
    prediction = (x[:, 0] + x[:, 1] > 0).astype(int)
    truth = np.where(rng.uniform(size=2 * rows) < (0.6 if drifts else 0.92), prediction, 1 - prediction)
    latency = rng.gamma(2.0, 10.0, 2 * rows) * np.where(late & drifts, 3.0, 1.0)
    ids = np.array([f"m{i}-r{j}" for j in range(2 * rows)])
    predictions = pa.table(
        {
            "request_id": ids,
            "timestamp": pa.array(
                [start + timedelta(seconds=float(s)) for s in seconds], pa.timestamp("us", "UTC")
            ),
            "prediction": prediction,
            "latency_ms": latency,
            "error": rng.uniform(size=2 * rows) < np.where(late & drifts, 0.08, 0.01),
            **{name: x[:, c] for c, name in enumerate(FEATURES)},
        }
    )
    labels = pa.table({"request_id": ids[late], "label": truth[late]})
    return predictions, labels


def build(database_url: str, folder: Path, *, models: int, rows: int, batch: int = 50) -> World:
    """Register ``models`` monitored models with their records under ``folder`` (a SQLite file is
    switched to write-ahead logging, so the schedulers' readers do not wait for a writer)."""
    import hashlib

    from benchmarks.fleet import production_version
    from governance.db import Database
    from governance.migrate import upgrade
    from governance.monitoring import service as monitoring
    from governance.production import service as production
    from governance.storage import LocalStorage

    began = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    db = Database(database_url)
    upgrade(db.engine)
    rng = np.random.default_rng(15)
    datasets = _datasets(db, folder, rng)
    storage = LocalStorage(folder / "storage")
    for first in range(0, models, batch):
        with db.transaction() as session:
            for i in range(first, min(first + batch, models)):
                mv = production_version(  # the drift checks never load its artifact
                    session, folder, prefix="scale", i=i, datasets=datasets, actor="scale", accuracy=0.92
                )
                predictions, labels = _records(i, rows, rng)
                for kind, table in (("predictions", predictions), ("labels", labels)):
                    sha = hashlib.sha256(f"scale {i} {kind} {rows}".encode()).hexdigest()
                    production.ingest_table(
                        session,
                        storage=storage,
                        mv=mv,
                        table=table,
                        sha=sha,
                        path=folder / f"scale-{i}-{kind}.parquet",
                        kind=kind,
                        actor="scale",
                    )
                for kind in KINDS:
                    monitoring.create(
                        session,
                        name=f"scale-{i:05d}-{kind.replace('_', '-')}",
                        mv=mv,
                        kind=kind,
                        schedule="every 1h",
                        window="1h",
                        actor="scale",
                        start_at=HOUR,
                        params={
                            "baseline_start": (HOUR - timedelta(hours=1)).isoformat(),
                            "baseline_end": HOUR.isoformat(),
                        }
                        if kind == "model_drift"
                        else {},
                    )
    if database_url.startswith("sqlite"):
        with db.engine.connect() as connection:  # persists in the file
            connection.exec_driver_sql("PRAGMA journal_mode=WAL")
    db.dispose()
    return World(models, models * len(KINDS), models * rows * 2, time.perf_counter() - began)


def make_due(database_url: str) -> None:
    """Let the monitored hour's windows (and no later one) be due now: each monitor waits for its
    labels until half an hour after now's clock passed the hour's end."""
    from sqlalchemy import update

    from governance.db import Database
    from governance.monitoring.models import Monitor

    delay = int((datetime.now(UTC) - (HOUR + timedelta(hours=1))).total_seconds()) - 1800
    db = Database(database_url)
    with db.transaction() as session:
        session.execute(update(Monitor).values(label_delay_seconds=delay))
    db.dispose()


def _tree_rss(pids: list[int]) -> tuple[int, int]:
    """Resident bytes of ``pids`` and all their descendants, together and the largest one."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
            statm = Path(f"/proc/{entry}/statm").read_text().split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
        rss[int(entry)] = int(statm[1]) * os.sysconf("SC_PAGE_SIZE")
    seen, stack = set(), list(pids)
    while stack:
        pid = stack.pop()
        if pid not in seen:
            seen.add(pid)
            stack.extend(children.get(pid, []))
    sizes = [rss.get(pid, 0) for pid in seen]
    return sum(sizes), max(sizes, default=0)


@dataclass(frozen=True)
class Run:
    schedulers: int
    seconds: float
    windows: int
    statuses: dict[str, int]
    twice: int
    missing: int
    peak_rss: int
    peak_process_rss: int
    database_bytes: int


def run(base: Path, work: Path, *, schedulers: int, processes: int, expected: int) -> Run:
    """Copy the built database, make the hour due, run ``schedulers`` scheduler processes at once."""
    from sqlalchemy import func, select

    from governance.db import Database
    from governance.monitoring.models import MonitorRun

    work.mkdir(parents=True)
    shutil.copy(base / "govern.db", work / "govern.db")
    url = f"sqlite:///{work / 'govern.db'}"
    make_due(url)
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "GOVERN_DATABASE_URL": url,
        "GOVERN_STORAGE_ROOT": str(work / "storage"),
        "GOVERN_ACTOR": "scale",
        "GOVERN_SCHEDULER_PROCESSES": str(processes),
        "GOVERN_CHANNEL_MAX_TIMEOUT_SECONDS": "1",
    }
    began = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from governance.cli import main; main()",
                "scheduler",
                "--once",
                "--json",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(schedulers)
    ]
    peak, largest = 0, 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, largest
        while not stop.wait(0.25):
            total, one = _tree_rss([p.pid for p in procs])
            peak, largest = max(peak, total), max(largest, one)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors = [p.communicate()[1] for p in procs]
    seconds = time.perf_counter() - began
    stop.set()
    sampler.join()
    for p, err in zip(procs, errors, strict=True):
        if p.returncode != 0:
            raise RuntimeError(f"a scheduler exited {p.returncode}: {err.decode()[-2000:]}")
    db = Database(url)
    with db.transaction() as session:
        statuses = dict(
            session.execute(select(MonitorRun.status, func.count()).group_by(MonitorRun.status)).all()
        )
        per_window = session.execute(
            select(func.count(), func.sum(MonitorRun.attempts)).group_by(
                MonitorRun.monitor_id, MonitorRun.window_start
            )
        ).all()
    db.dispose()
    windows = len(per_window)
    twice = sum(1 for rows, attempts in per_window if rows > 1 or attempts > 1)
    size = sum(p.stat().st_size for p in work.glob("govern.db*"))
    return Run(schedulers, seconds, windows, statuses, twice, expected - windows, peak, largest, size)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=500, help="records per model in the hour")
    parser.add_argument("--quick", action="store_true", help="30 models (90 monitors)")
    parser.add_argument(
        "--processes", type=int, default=0, help="pool processes per scheduler (0: one per core)"
    )
    parser.add_argument("--schedulers", default="1,2", help="the runs: scheduler processes in each")
    parser.add_argument("--keep", type=Path, help="build and run under this folder and keep it")
    args = parser.parse_args()
    models = 30 if args.quick else args.models
    runs = [int(n) for n in args.schedulers.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        base = folder / "base"
        world = build(f"sqlite:///{base / 'govern.db'}", base, models=models, rows=args.rows)
        print(
            f"world: {world.models} models (lineage, licenses), {world.monitors} monitors "
            f"({', '.join(KINDS)}), {world.records:,} records; built in {world.seconds:.0f} s"
        )
        cores = os.cpu_count() or 1
        pool = args.processes or cores
        print(f"machine: {cores} cores; SQLite file (WAL); each scheduler runs a pool of {pool} processes")
        scale = world.monitors / 3000
        target = TARGET_SECONDS * scale
        results = [
            run(base, folder / f"run-{n}", schedulers=n, processes=args.processes, expected=world.monitors)
            for n in runs
        ]
        print(f"\nan hour of {world.monitors} windows ({args.rows} records each):")
        header = f"{'':<36}" + "".join(f"{f'{r.schedulers} scheduler(s)':>18}" for r in results)
        print(header + f"{'target':>22}")
        rows = [
            ("time for the hour's work", [f"{r.seconds:.1f} s" for r in results], f"<= {target:.0f} s (1 sched.)"),
            ("windows per second", [f"{r.windows / r.seconds:.1f}" for r in results], f">= {world.monitors / target:.1f}"),
            ("peak RSS, all processes", [f"{r.peak_rss / 2**20:.0f} MiB" for r in results], ""),
            ("peak RSS, largest process", [f"{r.peak_process_rss / 2**20:.0f} MiB" for r in results], ""),
            ("database size after", [f"{r.database_bytes / 2**20:.1f} MiB" for r in results], ""),
            ("windows run / twice / lost", [f"{r.windows}/{r.twice}/{r.missing}" for r in results], f"{world.monitors}/0/0"),
        ]  # fmt: skip
        for label, values, goal in rows:
            print(f"{label:<36}" + "".join(f"{v:>18}" for v in values) + f"{goal:>22}")
        for r in results:
            print(
                f"statuses with {r.schedulers} scheduler(s): "
                + ", ".join(f"{k} {v}" for k, v in sorted(r.statuses.items()))
            )
        one = results[0]
        verdict = "met" if one.seconds <= target else f"missed by {one.seconds - target:.0f} s"
        print(f"\ntarget (one scheduler, {target:.0f} s for {world.monitors} windows): {verdict}")
        if len(results) > 1:
            print(f"two schedulers: {one.seconds / results[1].seconds:.2f}x the speed of one")
        if any(r.twice or r.missing for r in results):
            raise SystemExit("a window ran twice or was lost")


if __name__ == "__main__":
    main()
