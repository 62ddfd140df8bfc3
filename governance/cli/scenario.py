"""The closed loop on scikit-learn's digits, used by ``govern demo`` and the end-to-end tests.

Register the digits as a dataset, train a classifier with the platform's trainer, deploy it,
stream hourly production batches of held-out digits that drift after a while (brighter, noisier
scans), let the scheduled monitors run over every window, and let the worker retrain, gate and
promote the next version.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.auth.principal import SCHEDULER, WORKER, Principal
from governance.data import read_frame
from governance.db import Database, utcnow
from governance.errors import PermissionDenied
from governance.settings import Settings

logger = logging.getLogger(__name__)

LABEL = "digit"
FEATURES = [f"p{i:02d}" for i in range(64)]
MODEL = "digits-classifier"
DATASET = "digits"


@dataclass(frozen=True)
class Scenario:
    windows: int = 6
    drift_from: int = 2
    rows_per_window: int = 150
    epochs: int = 40
    seed: int = 0


def write_digits(folder: Path, seed: int) -> tuple[Path, pd.DataFrame]:
    """The reference CSV (70 % of the digits) and the held-out rows production will see."""
    from sklearn.datasets import load_digits

    folder.mkdir(parents=True, exist_ok=True)
    digits = load_digits()
    frame = pd.DataFrame(digits.data.astype(np.float32), columns=FEATURES)
    frame[LABEL] = digits.target
    shuffled = frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cut = int(len(shuffled) * 0.7)
    reference = folder / "digits_reference.csv"
    shuffled.iloc[:cut].to_csv(reference, index=False)
    return reference, shuffled.iloc[cut:].reset_index(drop=True)


def drifted(frame: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Brighter, noisier scans: the kind of shift a new scanner brings."""
    out = frame.copy()
    pixels = out[FEATURES].to_numpy(np.float32)
    pixels = np.clip(pixels * 0.7 + 5.0 + rng.normal(0.0, 2.0, pixels.shape), 0.0, 16.0)
    out[FEATURES] = pixels.astype(np.float32)
    return out


def train_initial(reference: Path, out: Path, *, epochs: int, seed: int, storage_root: Path | str) -> Any:
    from trainer.architectures import MLPConfig
    from trainer.config import TrainConfig
    from trainer.data import split_training_set, to_tensors
    from trainer.loop import train

    splits = split_training_set(read_frame(reference), None, label=LABEL, features=FEATURES, seed=seed)
    config = MLPConfig(
        n_features=len(FEATURES), n_outputs=len(splits.classes), hidden=(64,), standardize=True
    )
    return train(
        config, to_tensors(splits), TrainConfig(epochs=epochs, seed=seed, patience=6), output_path=out
    )


def _predict(model_path: Path, sha256: str, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    import torch

    from trainer.modelio import load_model

    model = load_model(model_path, expected_sha256=sha256, device="cpu")
    with torch.no_grad():
        proba = torch.softmax(model.module(torch.from_numpy(frame[FEATURES].to_numpy(np.float32))), 1).numpy()
    classes = np.asarray(model.metadata["classes"])
    return classes[proba.argmax(1)], proba


DEMO_OWNER = "demo-owner"


def demo_principal(db: Database, settings: Settings) -> Principal:
    """The demo's own editor, verified as anyone is: a user, a fresh key, the key checked.

    Promoting to production needs a verified editor; the demo runs on an empty directory, so it makes
    one (as the operator's console would, with ``govern user add`` and ``govern key create``)."""
    from governance.auth import service as auth_service
    from governance.errors import NotFound

    with db.transaction() as session:
        try:
            user = auth_service.get_user(session, name=DEMO_OWNER)
        except NotFound:
            user = auth_service.create_user(session, name=DEMO_OWNER, role="editor", actor=settings.actor)
        plaintext = auth_service.create_key(session, user=user, actor=settings.actor).plaintext
    with db.transaction() as session:
        verified = auth_service.authenticate(session, plaintext=plaintext)
        if verified is None or not verified.has_role("editor"):
            raise PermissionDenied(f"the demo's user {DEMO_OWNER} cannot act as an editor")
        return Principal.of_user(verified)


def deploy(
    db: Database,
    settings: Settings,
    workdir: Path,
    scenario: Scenario,
    say: Any,
    name: str = MODEL,
    principal: Principal | None = None,
) -> pd.DataFrame:
    """Register the digits, train version 1 and put it in production (as ``principal``, by default
    the demo's own editor); returns the held-out pool."""
    from governance.dataset import service as dataset_service
    from governance.dataset.files import inspect_file
    from governance.mlmodel import environment
    from governance.mlmodel import service as model_service
    from governance.promotion import promote
    from governance.storage import LocalStorage
    from monitors.quality_io import file_report

    actor = settings.actor
    owner = principal or demo_principal(db, settings)
    storage = LocalStorage(settings.storage_root)
    reference_csv, pool = write_digits(workdir, scenario.seed)
    with db.transaction() as session:
        dataset_service.register(
            session,
            storage=storage,
            file=inspect_file(reference_csv),
            name=DATASET,
            version="1",
            license_expression="CC-BY-4.0",
            label_column=LABEL,
            actor=actor,
            source="UCI Optical Recognition of Handwritten Digits, via scikit-learn (70 % split)",
            quality_report=file_report(reference_csv, label=LABEL),
        )
    say(f"registered dataset {DATASET}@1 ({len(read_frame(reference_csv))} digits, CC-BY-4.0)")
    result = train_initial(
        reference_csv,
        workdir / f"{name}-v1.zip",
        epochs=scenario.epochs,
        seed=scenario.seed,
        storage_root=settings.storage_root,
    )
    with db.transaction() as session:
        mv = model_service.register(
            session,
            storage=storage,
            artifact=model_service.inspect_artifact(result.model_path),
            name=name,
            version="1",
            intended_use="commercial",
            risk_tier="low",
            actor=actor,
            license_expression=None,
            datasets=[(f"{DATASET}@1", "train"), (f"{DATASET}@1", "reference")],
            framework="pytorch",
            task="classification",
            dependencies=environment.capture_for_framework("pytorch"),
            hyperparameters={"architecture": "mlp", "hidden": [64], "epochs": scenario.epochs},
            seed=scenario.seed,
            metrics={f"test_{k}": v for k, v in result.test_metrics.items()},
        ).version
        promote(
            session,
            mv=mv,
            stage="production",
            principal=owner,
            reason="first deployment",
        )
    say(
        f"trained {name}@1 (test accuracy {result.test_metrics.get('accuracy', float('nan')):.3f}) "
        f"and deployed it to production"
    )
    return pool


def first_window(scenario: Scenario) -> datetime:
    return utcnow().replace(minute=0, second=0, microsecond=0) - timedelta(hours=scenario.windows)


def add_monitors(
    db: Database, settings: Settings, scenario: Scenario, name: str = MODEL, report: bool = True
) -> None:
    """Hourly data drift (retrain after two breaches in a row) and prediction consistency, on the
    model by name: they follow it to each version that takes over production."""
    from governance.mlmodel import service as model_service
    from governance.monitoring import service as monitoring

    start = first_window(scenario)
    with db.transaction() as session:
        model = model_service.get_model(session, name=name)
        monitoring.create(
            session,
            name=f"{name}-data-drift",
            model=model,
            kind="data_drift",
            schedule="every 1h",
            window="1h",
            start_at=start,
            actor=settings.actor,
            thresholds={"drift_share": 0.5},
            params={"report": report},
            catchup="all",
            # the change plan: learn from the last two hours of labelled production records only, so
            # the new version's reference (its training set) is what production looks like now
            retrain_policy={
                "consecutive": 2,
                "cooldown_seconds": 0,
                "reference": False,
                "window_seconds": 7200,
            },
            channels=[{"type": "log"}],
        )
        monitoring.create(
            session,
            name=f"{name}-consistency",
            model=model,
            kind="consistency",
            schedule="every 1h",
            window="1h",
            start_at=start,
            actor=settings.actor,
            catchup="coalesce",
        )


def stream(
    db: Database,
    settings: Settings,
    workdir: Path,
    scenario: Scenario,
    pool: pd.DataFrame,
    say: Any,
    name: str = MODEL,
) -> None:
    """Hourly batches of held-out digits (drifted from ``drift_from`` on), and their labels."""
    from governance.mlmodel import service as model_service
    from governance.production import service as production
    from governance.storage import LocalStorage

    actor = settings.actor
    storage = LocalStorage(settings.storage_root)
    rng = np.random.default_rng(scenario.seed)
    start = first_window(scenario)
    with db.transaction() as session:
        mv = model_service.get_version(session, name=name, version="1")
        deployed_path, deployed_sha = Path(mv.artifact_location), mv.sha256
    # requests are distinct while the pool lasts (a real stream does not replay the same scans)
    shuffled = pool.sample(frac=1.0, random_state=scenario.seed).reset_index(drop=True)
    for w in range(scenario.windows):
        n = scenario.rows_per_window
        if (w + 1) * n <= len(shuffled):
            rows = shuffled.iloc[w * n : (w + 1) * n].reset_index(drop=True)
        else:
            rows = pool.sample(n=n, random_state=scenario.seed + w).reset_index(drop=True)
        if w >= scenario.drift_from:
            rows = drifted(rows, rng)
        window_start = start + timedelta(hours=w)
        predictions, proba = _predict(deployed_path, deployed_sha, rows)
        batch = rows[FEATURES].copy()
        batch.insert(
            0,
            "timestamp",
            [window_start + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, 3599, len(rows)))],
        )
        batch.insert(0, "request_id", [f"{name}-w{w}-{i}" for i in range(len(rows))])
        batch["prediction"] = predictions
        for c in range(proba.shape[1]):
            batch[f"proba_{c}"] = proba[:, c]
        batch["latency_ms"] = rng.gamma(4.0, 3.0, len(rows))
        batch["error"] = False
        batch_path = workdir / f"{name}-batch-{w}.parquet"
        batch.to_parquet(batch_path, index=False)
        labels_path = workdir / f"{name}-labels-{w}.csv"
        pd.DataFrame({"request_id": batch["request_id"], "label": rows[LABEL]}).to_csv(
            labels_path, index=False
        )
        with db.transaction() as session:
            mv = model_service.get_version(session, name=name, version="1")
            production.ingest(
                session, storage=storage, mv=mv, path=batch_path, kind="predictions", actor=actor
            )
            production.ingest(session, storage=storage, mv=mv, path=labels_path, kind="labels", actor=actor)
        accuracy = float(np.mean(predictions == rows[LABEL].to_numpy()))
        say(
            f"window {w}: {len(rows)} requests{' (drifted scans)' if w >= scenario.drift_from else ''}, "
            f"live accuracy {accuracy:.2f}; labels arrived"
        )


def second_act(
    db: Database,
    settings: Settings,
    workdir: Path,
    scenario: Scenario,
    pool: pd.DataFrame,
    say: Any,
    name: str = MODEL,
) -> list[Any]:
    """After a promotion: the next hour of (still drifted) traffic, scored by the version now in
    production and sent by model name, then every monitor over that hour: they judge the new version."""
    from governance.mlmodel import service as model_service
    from governance.monitoring import service as monitoring
    from governance.monitoring.schedule import Window
    from governance.production import routing
    from governance.storage import LocalStorage
    from trainer.workflows import run_window

    storage = LocalStorage(settings.storage_root)
    rng = np.random.default_rng(scenario.seed + 1000)
    with db.transaction() as session:
        (live,) = model_service.list_versions(session, name=name, stage="production")
        live_ref, live_path, live_sha = live.ref, Path(live.artifact_location), live.sha256
        promoted_at = max(t.at for t in model_service.history(session, name=name))
        monitors = [m.id for m in monitoring.list_monitors(session, model_version_id=live.id)]
    hour = timedelta(hours=1)
    start = first_window(scenario)
    start += ((promoted_at - start) // hour + 1) * hour  # the first whole hour after the promotion
    window = Window(start, start + hour)
    rows = drifted(pool.sample(n=scenario.rows_per_window, random_state=scenario.seed + 999), rng)
    rows = rows.reset_index(drop=True)
    predictions, proba = _predict(live_path, live_sha, rows)
    batch = rows[FEATURES].copy()
    offsets = np.sort(rng.uniform(0, 3599, len(rows)))
    batch.insert(0, "timestamp", [start + timedelta(seconds=float(s)) for s in offsets])
    batch.insert(0, "request_id", [f"{name}-after-{i}" for i in range(len(rows))])
    batch["prediction"] = predictions
    for c in range(proba.shape[1]):
        batch[f"proba_{c}"] = proba[:, c]
    batch["latency_ms"] = rng.gamma(4.0, 3.0, len(rows))
    batch["error"] = False
    batch_path, labels_path = workdir / f"{name}-batch-after.parquet", workdir / f"{name}-labels-after.csv"
    batch.to_parquet(batch_path, index=False)
    pd.DataFrame({"request_id": batch["request_id"], "label": rows[LABEL]}).to_csv(labels_path, index=False)
    with db.transaction() as session:
        for path, kind in ((batch_path, "predictions"), (labels_path, "labels")):
            routing.ingest_by_name(
                session, storage=storage, name=name, path=path, kind=kind, actor=settings.actor
            )
    accuracy = float(np.mean(predictions == rows[LABEL].to_numpy()))
    say(
        f"the next hour ({window.label()}): {len(rows)} requests served by {live_ref}, live accuracy {accuracy:.2f}"
    )
    reports = []
    for monitor_id in monitors:
        report = run_window(
            db,
            monitor_id=monitor_id,
            window=window,
            worker="demo-scheduler",
            actor=SCHEDULER,
            storage_root=settings.storage_root,
        )
        if report is not None:
            reports.append(report)
    for r in reports:
        say(f"monitor {r.monitor} on {r.model} {r.window.label()}: {r.status}")
    return [r.to_dict() for r in reports]


def run(
    db: Database,
    settings: Settings,
    workdir: Path,
    scenario: Scenario,
    say: Any,
    principal: Principal | None = None,
) -> dict[str, Any]:
    """The whole loop (``principal`` deploys version 1); returns what the demo reports."""
    from governance.mlmodel import service as model_service
    from governance.monitoring import alerts, jobs
    from monitors import scheduler
    from trainer.worker import WorkerConfig, work, worker_name

    pool = deploy(db, settings, workdir, scenario, say, principal=principal)
    add_monitors(db, settings, scenario)
    stream(db, settings, workdir, scenario, pool, say)
    reports = scheduler.tick(db, actor=SCHEDULER, storage_root=settings.storage_root, worker="demo-scheduler")
    for r in reports:
        say(f"monitor {r.monitor} on {r.model} {r.window.label()}: {r.status}")
    done = work(
        db,
        config=WorkerConfig(
            storage_root=settings.storage_root,
            actor=WORKER,
            mlflow_uri=settings.mlflow_uri,
            name=worker_name(),
            epochs=scenario.epochs,
        ),
        once=True,
    )
    for job in done:
        if job["status"] == "succeeded":
            gates = ", ".join(f"{g['name']} {'passed' if g['passed'] else 'FAILED'}" for g in job["gates"])
            say(
                f"retrain job {job['id']}: {job['candidate']} trained on {job['training_set']}; gates: {gates}; "
                f"now {job['stage']}"
            )
        else:
            say(f"retrain job {job['id']} failed: {job.get('error')}")
    after: list[Any] = []
    if any(j.get("stage") == "production" for j in done):
        say("after the promotion: the monitors follow the model to its new version")
        after = second_act(db, settings, workdir, scenario, pool, say)
    with db.transaction() as session:
        return {
            "alerts": [
                {
                    k: a.to_dict()[k]
                    for k in ("monitor", "model", "severity", "status", "message", "resolution")
                }
                for a in alerts.list_alerts(session)
            ],
            "retrain_jobs": [
                {
                    "id": j.id,
                    "status": j.status,
                    "candidate": j.result.get("candidate"),
                    "passed_gates": j.result.get("passed"),
                    "gates": j.result.get("gates"),
                }
                for j in jobs.list_jobs(session)
            ],
            "versions": [
                {"name": v.model.name, "version": v.version, "stage": v.stage}
                for v in model_service.list_versions(session, name=MODEL)
            ],
            "monitor_runs": [r.to_dict() for r in reports],
            "after_promotion": after,
        }
