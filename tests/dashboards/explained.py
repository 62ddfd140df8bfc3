"""A version with everything the model page explains, computed by the real code on the real trained
test models: its kept attributions, per-column data drift and attribution drift over three hourly
windows of production records (the last two with two features scaled), and a retrain's gates
(champion tumour@1 against challenger tumour@2 on held-out rows)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from governance.db import Database
from governance.mlmodel import service as model_service
from governance.monitoring import jobs
from governance.monitoring import service as monitoring_service
from governance.monitoring.schedule import Window
from governance.production import service as production_service
from governance.storage import LocalStorage
from monitors.explanations import explain_version
from monitors.sandbox import ModelCheckLimits
from tests.api.world import START
from trainer.workflows import run_window

REF = "tumour@2"
SHIFTED = ("worst area", "mean radius")
IN_PROCESS = ModelCheckLimits(enabled=False)


@dataclass
class Scene:
    explanation: dict[str, object]
    drift_runs: list[int]
    attribution_runs: list[int]
    job: int


def _records(csv: Path, window: int, rows: int = 120) -> pd.DataFrame:
    frame = pd.read_csv(csv).drop(columns="target").sample(rows, random_state=window).reset_index(drop=True)
    if window > 0:
        for column in SHIFTED:
            frame[column] = frame[column] * 3.0
    start = START + timedelta(hours=window, minutes=5)
    ids = pd.DataFrame(
        {
            "request_id": [f"w{window}-{i}" for i in range(rows)],
            "timestamp": [(start + timedelta(seconds=i)).isoformat() for i in range(rows)],
            "prediction": [1] * rows,
        }
    )
    return ids.join(frame)


def _gates(csv: Path, models: list[Path]) -> list[dict[str, object]]:
    from trainer import gates
    from trainer.modelio import load_model

    frame = pd.read_csv(csv).iloc[::3]
    x = frame.drop(columns="target").to_numpy(np.float32)
    y = frame["target"].to_numpy()
    champion, challenger = (load_model(p, device="cpu") for p in models[:2])
    return [
        gates.champion_challenger(champion, challenger, x, y).to_dict(),
        gates.robustness(
            champion, challenger, x, y, y, epsilon=0.05, reference=x, max_samples=60, attacks=("fgsm",)
        ).to_dict(),
    ]


def build(db: Database, storage_root: Path, csv: Path, models: list[Path], tmp: Path) -> Scene:
    explanation = explain_version(db, ref=REF, actor="editor", source="test", limits=IN_PROCESS)
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, REF)
        for window in range(3):
            path = tmp / f"records-{window}.parquet"
            _records(csv, window).to_parquet(path)
            production_service.ingest(
                session,
                storage=LocalStorage(storage_root),
                mv=mv,
                path=path,
                kind="predictions",
                actor="editor",
            )
        ids = []
        for name, kind, params in (
            ("tumour2-drift", "data_drift", {}),
            ("tumour2-attributions", "attribution_drift", {"max_rows": 80, "top_k": 5}),
        ):
            ids.append(
                monitoring_service.create(
                    session,
                    name=name,
                    mv=mv,
                    kind=kind,
                    schedule="every 1h",
                    window="1h",
                    actor="editor",
                    start_at=START,
                    params=params,
                ).id
            )
    runs: dict[int, list[int]] = {i: [] for i in ids}
    for window in range(3):
        for monitor_id in ids:
            report = run_window(
                db,
                monitor_id=monitor_id,
                window=Window(START + timedelta(hours=window), START + timedelta(hours=window + 1)),
                worker="scheduler",
                actor="scheduler",
                storage_root=storage_root,
                model_limits=IN_PROCESS,
            )
            assert report is not None and report.status in ("ok", "warning", "breach"), report
            runs[monitor_id].append(report.run_id)
    evidence = _gates(csv, models)
    with db.transaction() as session:
        champion = model_service.get_by_ref(session, "tumour@1")
        job = jobs.create(
            session, model_version_id=champion.id, monitor=None, window_start=START,
            reason="drift on tumour@1", params={}, actor="scheduler",
        )  # fmt: skip
        assert job is not None
        jobs.finish(
            session,
            job_id=job.id,
            status="succeeded",
            result={
                "candidate": REF,
                "champion": "tumour@1",
                "stage": "candidate",
                "passed": all(bool(g["passed"]) for g in evidence),
                "gates": evidence,
            },
            error=None,
            actor="worker",
        )
        job_id = job.id
    return Scene(explanation, runs[ids[0]], runs[ids[1]], job_id)
