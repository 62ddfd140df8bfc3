"""A season in real time: the loop keeps closing after the first retrain.

Short windows, played as they happen, with ``govern scheduler`` and ``govern worker`` running as
processes (as deployed): clean windows; a covariate-only shift (the class mix changes, the model
stays right: data drift, no retrain); a concept change (a new scanner: the model's accuracy falls,
a retrain, the new version promoted and then watched by the same monitors); a second change caught
on the new version (misaligned scans: a second retrain). Records and labels are sent by model name, so each goes to
the version that served it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select

from governance.cli import scenario
from governance.db import Database, utcnow
from governance.mlmodel import service as model_service
from governance.monitoring import service as monitoring
from governance.monitoring.models import Alert, MonitorRun, RetrainJob
from governance.production import routing
from governance.settings import Settings
from governance.storage import LocalStorage

ROOT = Path(__file__).resolve().parent.parent
WINDOW = 4  # seconds
DELAY = 8  # seconds a window waits for its records and labels (sent as it closes, on a busy machine)
ROWS = 60
SEASON_LIMIT = 420.0  # seconds: the whole season, retrains included, or the test fails
NAME = scenario.MODEL


def _quiet(_: str) -> None:
    pass


def _process(args: list[str], database_url: str, storage: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "GOVERN_DATABASE_URL": database_url,
        "GOVERN_STORAGE_ROOT": str(storage),
        "GOVERN_ACTOR": "tester",
        "PYTHONPATH": str(ROOT),
    }
    env.pop("GOVERN_API_KEY", None)
    handle = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "governance.cli", *args], env=env, cwd=ROOT, stdout=handle, stderr=handle
    )


@pytest.fixture
def processes(database_url: str, tmp_path: Path) -> Iterator[Callable[[list[str], str], None]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], name: str) -> None:
        started.append(_process(args, database_url, tmp_path / "storage", tmp_path / f"{name}.log"))

    yield start
    for p in started:  # only the processes this test started
        p.terminate()
    for p in started:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


class Season:
    """Plays windows in real time: each window's records are scored by the version in production
    when they were made and sent, with their labels, by model name as the window closes."""

    def __init__(self, db: Database, settings: Settings, pool: pd.DataFrame, start: datetime) -> None:
        self.db, self.settings, self.pool, self.start = db, settings, pool, start
        self.storage = LocalStorage(settings.storage_root)
        self.rng = np.random.default_rng(0)
        self.k = 0
        self.phases: dict[int, str] = {}
        self.used: set[int] = set()

    def window(self, k: int) -> tuple[datetime, datetime]:
        return self.start + timedelta(seconds=k * WINDOW), self.start + timedelta(seconds=(k + 1) * WINDOW)

    def rows(self, phase: str) -> pd.DataFrame:
        """Held-out digits not sent before while there are some (a repeated row would fail the
        training set's quality check); the scanner's noise makes its rows new anyway."""
        if phase in ("concept", "after"):  # a new scanner: brighter, noisier scans
            rows = self.pool.sample(n=ROWS, random_state=int(self.rng.integers(1 << 30)))
            return scenario.drifted(rows.reset_index(drop=True), self.rng)
        unused = self.pool.drop(index=list(self.used))
        if phase == "covariate":  # another class mix; the same digits, still read right
            unused = unused[unused[scenario.LABEL].isin([0, 1, 2])]
        source = unused if len(unused) >= ROWS else self.pool
        rows = source.sample(n=ROWS, random_state=int(self.rng.integers(1 << 30)))
        self.used.update(rows.index)
        rows = rows.reset_index(drop=True)
        if phase == "second":  # then a misaligned one: every scan one pixel to the right
            pixels = rows[scenario.FEATURES].to_numpy(np.float32).reshape(-1, 8, 8)
            pixels = np.roll(pixels, 1, axis=2)
            pixels[:, :, 0] = 0.0
            rows[scenario.FEATURES] = pixels.reshape(-1, 64)
        return rows

    def play(self, phase: str) -> None:
        """Window ``k``: wait for its end, then send its records and labels."""
        start, end = self.window(self.k)
        rows = self.rows(phase)
        stamps = [start + timedelta(seconds=float(s)) for s in np.sort(self.rng.uniform(0, WINDOW, ROWS))]
        while utcnow() < end:
            time.sleep(0.05)
        with self.db.transaction() as s:
            periods = routing.production_periods(model_service.history(s, name=NAME))
            served = {p.version.id: (Path(p.version.artifact_location), p.version.sha256) for p in periods}
            micros = np.asarray([(t - routing.EPOCH) // timedelta(microseconds=1) for t in stamps])
            owner = routing.assign_periods(periods, micros)
        batch = rows[scenario.FEATURES].copy()
        batch.insert(0, "timestamp", stamps)
        batch.insert(0, "request_id", [f"w{self.k}-{i}" for i in range(ROWS)])
        predictions = np.empty(ROWS, dtype=np.int64)
        n_classes = 10
        proba = np.zeros((ROWS, n_classes), dtype=np.float32)
        for index in np.unique(owner):
            mask = owner == index
            path, sha = served[periods[int(index)].version.id]
            p, q = scenario._predict(path, sha, rows[mask])
            predictions[mask], proba[mask] = p, q
        batch["prediction"] = predictions
        for c in range(n_classes):
            batch[f"proba_{c}"] = proba[:, c]
        batch["latency_ms"] = 5.0
        batch["error"] = False
        folder = self.settings.storage_root.parent / "season"
        folder.mkdir(exist_ok=True)
        records, labels = folder / f"records-{self.k}.parquet", folder / f"labels-{self.k}.csv"
        batch.to_parquet(records, index=False)
        pd.DataFrame({"request_id": batch["request_id"], "label": rows[scenario.LABEL]}).to_csv(
            labels, index=False
        )
        with self.db.transaction() as s:
            for path, kind in ((records, "predictions"), (labels, "labels")):
                routing.ingest_by_name(
                    s, storage=self.storage, name=NAME, path=path, kind=kind, actor="serving"
                )
        self.phases[self.k] = phase
        self.k += 1

    def until(self, phase: str, done: Callable[[], bool], deadline: float, at_least: int = 1) -> None:
        for _ in range(at_least):
            self.play(phase)
        while not done():
            assert time.monotonic() < deadline, f"the season ran out of time in phase {phase}"
            self.play(phase)

    def in_production(self) -> str:
        with self.db.transaction() as s:
            (live,) = model_service.list_versions(s, name=NAME, stage="production")
            return live.ref

    def replaced(self, ref: str) -> Callable[[], bool]:
        """Whether a retrain has replaced ``ref`` in production; fails at once on a retrain that
        finished without promoting its candidate."""

        def check() -> bool:
            with self.db.transaction() as s:
                for job in s.scalars(
                    select(RetrainJob).where(RetrainJob.status.in_(("succeeded", "failed")))
                ):
                    failed = [
                        (g["name"], g.get("detail")) for g in job.result.get("gates", []) if not g["passed"]
                    ]
                    policy = (job.result.get("policy") or {}).get("requirements")
                    assert job.result.get("stage") == "production", (
                        job.model_version.ref,
                        job.error,
                        failed,
                        policy,
                    )
            return self.in_production() != ref

        return check

    def runs(self) -> list[dict[str, Any]]:
        with self.db.transaction() as s:
            return [
                {**r.to_dict(), "phase": self.phases.get(self._index(r.window_start))}
                for r in s.scalars(select(MonitorRun).order_by(MonitorRun.window_start, MonitorRun.id))
            ]

    def _index(self, at: datetime) -> int:
        return round((at - self.start).total_seconds() / WINDOW)

    def finished_through(self, k: int) -> bool:
        """Both monitors have a finished run for every window up to ``k``."""
        _, end = self.window(k)
        with self.db.transaction() as s:
            done = s.scalars(
                select(MonitorRun).where(MonitorRun.window_end <= end, MonitorRun.status != "running")
            ).all()
        return len(done) >= 2 * (k + 1)


@pytest.mark.slow
def test_a_season_of_drift_with_two_retrains(
    db: Database, database_url: str, tmp_path: Path, processes: Callable[[list[str], str], None]
) -> None:
    began = time.monotonic()
    deadline = began + SEASON_LIMIT
    settings = Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="tester")
    plan = scenario.Scenario(windows=1, rows_per_window=ROWS, epochs=6)
    pool = scenario.deploy(db, settings, tmp_path / "work", plan, _quiet)
    start = utcnow().replace(microsecond=0) + timedelta(seconds=2)
    with db.transaction() as s:
        model = model_service.get_model(s, name=NAME)
        common: dict[str, Any] = {
            "model": model,
            "schedule": f"every {WINDOW}s",
            "window": f"{WINDOW}s",
            "start_at": start,
            "actor": "tester",
            "catchup": "all",
            "label_delay": f"{DELAY}s",
        }
        monitoring.create(
            s,
            name="season-data-drift",
            kind="data_drift",
            # KS per pixel: the field's default for a large reference (normed Wasserstein > 0.1)
            # flags half the pixels of a clean window of 60 digits
            thresholds={"drift_share": 0.1},
            params={"report": False, "methods": {c: "ks" for c in scenario.FEATURES}},
            **common,
        )
        monitoring.create(
            s,
            name="season-concept",
            kind="concept_drift",
            thresholds={"max_drop": 0.3, "warn_drop": 0.15},
            retrain_policy={"consecutive": 3, "cooldown_seconds": 0},
            **common,
        )
    processes(["scheduler", "--interval", "0.5"], "scheduler")
    processes(["worker", "--poll", "0.5", "--epochs", "8"], "worker")
    season = Season(db, settings, pool, start)

    season.until("clean", lambda: True, deadline, at_least=2)
    season.until("covariate", lambda: True, deadline, at_least=2)
    covariate_end = season.k - 1
    while not season.finished_through(covariate_end):
        assert time.monotonic() < deadline, "the scheduler fell behind the covariate windows"
        time.sleep(0.2)
    with db.transaction() as s:
        assert s.scalars(select(RetrainJob)).all() == []  # a covariate-only shift retrains nothing
    season.until("concept", season.replaced(f"{NAME}@1"), deadline)
    season.until("after", lambda: True, deadline, at_least=2)
    after_end = season.k - 1
    season.until("second", season.replaced(f"{NAME}@2"), deadline)
    last = season.k - 1
    while not season.finished_through(last):
        assert time.monotonic() < deadline, "the scheduler fell behind the last windows"
        time.sleep(0.2)
    elapsed = time.monotonic() - began

    runs = season.runs()
    by = {
        (r["monitor"], r["phase"]): [
            x for x in runs if (x["monitor"], x["phase"]) == (r["monitor"], r["phase"])
        ]
        for r in runs
    }
    assert all(r["status"] in ("ok", "warning", "breach") and r["model"] for r in runs), [
        (r["monitor"], r["status"], r["error"])
        for r in runs
        if r["status"] not in ("ok", "warning", "breach")
    ]
    concept = {
        p: [(r["model"], r["status"]) for r in by.get(("season-concept", p), [])]
        for p in season.phases.values()
    }
    drift = {p: [r["status"] for r in by.get(("season-data-drift", p), [])] for p in season.phases.values()}
    # clean windows pass; the covariate shift is data drift that the model reads right through
    assert concept["clean"] == [(f"{NAME}@1", "ok")] * 2, concept
    assert "breach" not in drift["clean"] and drift["covariate"] == ["breach", "breach"], drift
    assert concept["covariate"] == [(f"{NAME}@1", "ok")] * 2, concept
    # the concept change breaches on @1; the windows after the takeover are judged against @2
    assert concept["concept"][0] == (f"{NAME}@1", "breach"), concept
    assert [m for m, _ in concept["after"]] == [f"{NAME}@2"] * 2 and {s for _, s in concept["after"]} <= {
        "ok",
        "warning",
    }
    # the second change is caught on @2 and retrains it
    second_on_2 = [s for m, s in concept["second"] if m == f"{NAME}@2"]
    assert second_on_2 and second_on_2[0] == "breach", concept["second"]

    with db.transaction() as s:
        jobs = s.scalars(select(RetrainJob).order_by(RetrainJob.id)).all()
        assert [
            (j.model_version.ref, j.status, j.result.get("candidate"), j.result.get("stage")) for j in jobs
        ] == [
            (f"{NAME}@1", "succeeded", f"{NAME}@2", "production"),
            (f"{NAME}@2", "succeeded", f"{NAME}@3", "production"),
        ], [j.error for j in jobs]
        stages = {v.ref: v.stage for v in model_service.list_versions(s, name=NAME)}
        assert stages == {f"{NAME}@1": "archived", f"{NAME}@2": "archived", f"{NAME}@3": "production"}
        alerts = s.scalars(select(Alert).order_by(Alert.id)).all()
        concept_alerts = [a for a in alerts if a.monitor.name == "season-concept"]
        # one alert per episode, each resolved by the takeover (windows of the second change that @3
        # judges after its takeover may open a third, still open: @3 also learned from older data)
        assert [a.to_dict()["model"] for a in concept_alerts[:2]] == [f"{NAME}@1", f"{NAME}@2"]
        assert [a.resolution for a in concept_alerts[:2]] == [
            f"{NAME}@2 took over production from {NAME}@1",
            f"{NAME}@3 took over production from {NAME}@2",
        ]
        assert all(a.to_dict()["model"] == f"{NAME}@3" and a.resolution is None for a in concept_alerts[2:])
        # the monitors are the same two from start to end: they followed the model
        assert {m.name: m.to_dict()["model"] for m in monitoring.list_monitors(s)} == {
            "season-data-drift": NAME,
            "season-concept": NAME,
        }
    print(f"season: {season.k} windows of {WINDOW}s, 2 retrains, in {elapsed:.0f}s (after@{after_end})")
