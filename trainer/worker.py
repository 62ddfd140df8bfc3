"""``govern worker``: claim retrain jobs and carry them through to a gated, promoted version.

A job: assemble the training set by the model's change plan (``trainer.training_data``: the labelled
production records of its declared window, plus the reference dataset or not) and register it as a
dataset version derived from the reference; train (resuming from
the job's checkpoints when a previous worker was killed); register the candidate with its lineage (its
own training set as its reference for drift) and whether the retrain stayed inside the change plan
(a candidate made outside it needs approval whatever its risk tier); run the gates, with the plan's
thresholds (champion against challenger, robustness, consistency, licenses); promote by the
promotion policy, the same one manual promotions pass (to production when every requirement of the
candidate's risk tier is met, to staging to await approvals and the rest otherwise). Each step is a transaction
with its audit events; a retried job reuses what an earlier attempt already registered, because
datasets and models are keyed by content.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.exc import IntegrityError

from governance.approval.service import ApprovalPolicy
from governance.audit import service as audit_service
from governance.auth.principal import Principal
from governance.changeplan import service as changeplan_service
from governance.compliance import service as compliance_service
from governance.dataset.models import DatasetVersion
from governance.db import Database
from governance.errors import ComplianceViolation, GovernError
from governance.mlmodel import environment
from governance.mlmodel import service as model_service
from governance.mlmodel.models import Model, ModelVersion
from governance.monitoring import jobs as job_service
from governance.monitoring.lease import Heartbeat
from governance.policy import service as policy_service
from governance.promotion import promote, verdict
from governance.storage import LocalStorage
from monitors.modelio import CNNConfig, MLPConfig, load_model
from trainer import gates, training_data
from trainer.config import AdversarialConfig, TrainConfig
from trainer.data import row_fingerprints, split_training_set, to_tensors
from trainer.loop import train
from trainer.training_data import TrainingData, next_version, read_frame

logger = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class WorkerConfig:
    storage_root: Path
    actor: str
    mlflow_uri: str | None = None
    name: str = ""
    epochs: int = 60
    approvals_medium: int = 1
    approvals_high: int = 2
    # The platform's models are small: one intra-op thread trains them fastest (benchmarks/train.py).
    cpu_threads: int | None = 1
    # A claimed job's lease, renewed by a heartbeat thread while the worker lives (GOVERN_LEASE_SECONDS).
    lease_seconds: float = 30.0


def worker_name() -> str:
    return f"worker@{socket.gethostname()}:{os.getpid()}"


def _retrying(step: Callable[[], T], *, what: str, attempts: int = 5) -> T:
    """Run a registering transaction again when a concurrent worker took the version number first.

    Versions are numbered ``max + 1``; two workers retraining models that share a reference dataset
    can pick the same number, and the loser's unique-key violation rolls its transaction back.
    """
    for attempt in range(1, attempts + 1):
        try:
            return step()
        except IntegrityError:
            if attempt == attempts:
                raise
            logger.info("%s: a concurrent worker took the version; retrying (%d)", what, attempt)
            time.sleep(0.05 * attempt)
    raise AssertionError("unreachable")


def _register_training_set(db: Database, *, job_id: int, config: WorkerConfig) -> TrainingData:
    def once() -> TrainingData:
        with db.transaction() as session:
            return training_data.register(
                session,
                job=job_service.get(session, job_id=job_id),
                storage=LocalStorage(config.storage_root),
                actor=config.actor,
            )

    return _retrying(once, what=f"job {job_id} training set")


def _champion_training_rows(mv: ModelVersion, features: list[str]) -> np.ndarray:
    """Fingerprints of the rows ``mv`` was trained on, from its lineage: its training (and
    validation) datasets, or its reference when it names neither."""
    links = [link for link in mv.datasets if link.role in ("train", "validation")] or [
        link for link in mv.datasets if link.role == "reference"
    ]
    found = []
    for link in links:
        dataset = link.dataset_version
        frame, label = read_frame(dataset.location), dataset.label_column
        if not label or any(c not in frame.columns for c in (*features, label)):
            logger.warning(
                "%s's dataset %s lacks the features or label; its rows are not matched", mv.ref, dataset.ref
            )
            continue
        frame = frame.loc[frame[label].notna() & frame[features].notna().all(axis=1)]
        found.append(row_fingerprints(frame, features=features, label=label))
    return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.uint64)


def _architecture(current: Any, n_features: int, n_classes: int) -> MLPConfig | CNNConfig:
    config = current.config
    if isinstance(config, CNNConfig):
        return CNNConfig(
            in_channels=config.in_channels,
            height=config.height,
            width=config.width,
            n_outputs=n_classes,
            channels=config.channels,
            hidden=config.hidden,
            input_bounds=config.input_bounds,
        )
    if isinstance(config, MLPConfig):
        return MLPConfig(
            n_features=n_features,
            n_outputs=n_classes if config.n_outputs != 1 else 1,
            hidden=config.hidden,
            dropout=config.dropout,
            input_bounds=config.input_bounds,
            standardize=config.standardize,
        )
    return MLPConfig(n_features=n_features, n_outputs=n_classes, hidden=(64,), standardize=True)


def run_job(db: Database, *, job_id: int, config: WorkerConfig) -> dict[str, Any]:
    started = time.perf_counter()
    data_ = _register_training_set(db, job_id=job_id, config=config)
    label, features = data_.label, data_.features
    reference_rows, production_rows = data_.reference, data_.production
    with db.transaction() as session:
        job = job_service.get(session, job_id=job_id)
        mv = job.model_version
        params = dict(job.params or {})
        training_ref = str(data_.summary["training_set"])
        reference_ref = session.get(DatasetVersion, data_.reference_id).ref  # type: ignore[union-attr]
        plan = changeplan_service.get_version(session, model=mv.model, version=data_.plan_version)
        plan_gates: dict[str, Any] = plan.document["gates"]
        epochs = int(params.get("epochs", config.epochs))
        outside = changeplan_service.deviations(
            plan.document, epochs=epochs, adversarial=bool(params.get("adversarial"))
        )
        champion_mv = next(
            iter(model_service.list_versions(session, name=mv.model.name, stage="production")), mv
        )
        champion_path, champion_sha = champion_mv.artifact_location, champion_mv.sha256
        champion_rows = _champion_training_rows(champion_mv, features)
        current: dict[str, Any] = {
            "path": mv.artifact_location,
            "sha": mv.sha256,
            "ref": mv.ref,
            "name": mv.model.name,
            "use": mv.intended_use,
            "risk": mv.risk_tier,
            "purpose": mv.intended_purpose,
            "license": mv.license_expression,
            "seed": mv.seed if mv.seed is not None else 0,
            "champion": champion_mv.ref,
        }
    current_model = load_model(current["path"], expected_sha256=current["sha"], device="cpu")
    splits = split_training_set(
        reference_rows,
        production_rows,
        label=label,
        features=features,
        seed=int(current["seed"]),
        champion_rows=champion_rows,
    )
    architecture = _architecture(current_model, len(features), len(splits.classes))
    image_shape = (
        (architecture.in_channels, architecture.height, architecture.width)
        if isinstance(architecture, CNNConfig)
        else None
    )
    data = to_tensors(splits, image_shape=image_shape, input_bounds=architecture.input_bounds)
    adversarial = AdversarialConfig() if params.get("adversarial") else None
    checkpoint_dir = config.storage_root / "checkpoints" / f"job-{job_id}"
    train_config = TrainConfig(
        epochs=epochs,
        patience=int(params.get("patience", TrainConfig.patience)),
        seed=int(current["seed"]),
        checkpoint_dir=checkpoint_dir,
        adversarial=adversarial,
        cpu_threads=config.cpu_threads,
    )
    tracker = _tracker(config, str(current["name"]))
    result = train(
        architecture,
        data,
        train_config,
        tracker=tracker,
        output_path=checkpoint_dir / "model.zip",
        on_epoch=lambda _m: job_service.heartbeat(
            db, job_id=job_id, worker=config.name, lease=timedelta(seconds=config.lease_seconds)
        ),
    )
    # with no held-out row (the champion saw every one) the test scores are NaN, which JSON refuses
    result = replace(result, test_metrics={k: v for k, v in result.test_metrics.items() if math.isfinite(v)})
    assert result.model_path is not None
    model_path: Path = result.model_path
    challenger = load_model(result.model_path, device="cpu")
    champion = load_model(champion_path, expected_sha256=champion_sha, device="cpu")

    x_test = splits.test[list(features)].to_numpy(np.float32)
    if image_shape is not None:
        x_test = x_test.reshape(-1, *image_shape)
    y_test = splits.test[label].to_numpy()
    reference_x = splits.train[list(features)].to_numpy(np.float32)
    x_consistency = x_test if len(x_test) else reference_x.reshape(-1, *x_test.shape[1:])
    checks = [
        gates.champion_challenger(
            champion,
            challenger,
            x_test,
            y_test,
            margin=float(plan_gates["champion_challenger"]["margin"]),
            confidence=float(plan_gates["champion_challenger"]["confidence"]),
            y_train=splits.train[label].to_numpy(),
        ),
        gates.robustness(
            champion,
            challenger,
            x_test,
            gates.class_indices(champion, y_test),
            gates.class_indices(challenger, y_test),
            epsilon=float(plan_gates["robustness"]["epsilon"]),
            margin=float(plan_gates["robustness"]["margin"]),
            confidence=float(plan_gates["robustness"]["confidence"]),
            reference=reference_x,
            seed=int(current["seed"]),
        ),
        gates.consistency(challenger, x_consistency, tolerance=float(plan_gates["consistency"]["tolerance"])),
    ]

    def register_and_gate() -> tuple[dict[str, Any], str]:
        # the candidate, its gates, its promotion and the job's end: one transaction
        with db.transaction() as session:
            candidate = model_service.register(
                session,
                storage=LocalStorage(config.storage_root),
                artifact=model_service.inspect_artifact(model_path),
                name=str(current["name"]),
                version=next_version(
                    [v.version for v in model_service.get_model(session, name=str(current["name"])).versions]
                ),
                intended_use=str(current["use"]),
                risk_tier=str(current["risk"]),
                intended_purpose=current["purpose"],
                actor=config.actor,
                license_expression=current["license"],
                # its own training set is its reference: the next drift is measured against what it learned
                datasets=[(training_ref, "train"), (training_ref, "reference")],
                framework="pytorch",
                task="classification",
                dependencies=environment.capture_for_framework("pytorch"),
                hyperparameters={
                    **train_config.to_params(),
                    "architecture": architecture.kind,
                    "retrained_from": current["ref"],
                    "retrain_job": job_id,
                    "base_reference": reference_ref,
                    "change_plan": data_.plan_version,
                },
                seed=int(current["seed"]),
                metrics={
                    **{f"val_{k}": v for k, v in result.val_metrics.items()},
                    **{f"test_{k}": v for k, v in result.test_metrics.items()},
                    "val_rows": float(len(data.x_val)),  # the concept-drift monitor's baseline error
                },
                mlflow_run_id=result.tracking_run_id,
                description=f"retrained by job {job_id} after: {job_service.get(session, job_id=job_id).reason}",
            ).version
            changeplan_service.record_check(
                session,
                mv=candidate,
                plan=changeplan_service.get_version(
                    session, model=candidate.model, version=data_.plan_version
                ),
                found=outside,
                job_id=job_id,
                actor=config.actor,
            )
            report = compliance_service.check(session, mv=candidate, actor=config.actor)
            license_gate = gates.Gate(
                "licenses",
                report.compliant,
                f"{len(report.violations)} license violation(s)",
                {"violations": [f.to_dict() for f in report.violations]},
            )
            all_gates = [*checks, license_gate]
            passed = all(g.passed for g in all_gates)
            audit_service.record(
                session,
                actor=config.actor,
                action="model.gates",
                entity_type="model_version",
                entity_id=candidate.ref,
                changes={"passed": passed, "gates": [g.to_dict() for g in all_gates]},
            )
            robust = next(g for g in checks if g.name == "robustness").metrics
            if np.isfinite(
                robust.get("challenger_worst_case", math.nan)
            ):  # the gate's attack is evidence for the policy
                policy_service.record_robustness(
                    session,
                    mv=candidate,
                    epsilon=float(robust["epsilon"]),
                    robust_accuracy=float(robust["challenger_worst_case"]),
                    clean_accuracy=None,
                    source=f"retrain job {job_id} gate",
                    actor=config.actor,
                )
            stage = candidate.stage
            policy: dict[str, Any] | None = None
            if passed:
                seed = ApprovalPolicy(medium=config.approvals_medium, high=config.approvals_high)
                judged = verdict(session, mv=candidate, approvals=seed)
                policy = judged.to_dict()
                target = "production" if judged.ok else "staging"
                if not judged.ok:
                    logger.warning("candidate %s goes to staging: %s", candidate.ref, judged.refusal())
                try:
                    promote(
                        session,
                        approvals=seed,
                        mv=candidate,
                        stage=target,
                        principal=Principal.system(config.actor),
                        reason=f"passed the gates of retrain job {job_id}",
                    )
                    stage = target
                except (ComplianceViolation, GovernError) as refused:
                    logger.warning("candidate %s stays %s: %s", candidate.ref, candidate.stage, refused)
            outcome = {
                "candidate": candidate.ref,
                "stage": stage,
                "gates": [g.to_dict() for g in all_gates],
                "passed": passed,
                "policy": policy,
                "training_set": training_ref,
                "training_data": data_.summary,
                "change_plan": {"version": data_.plan_version, "within": not outside, "deviations": outside},
                "test_metrics": result.test_metrics,
                "mlflow_run_id": result.tracking_run_id,
                "champion": current["champion"],
                "split": splits.summary(),
                "resumed_from_epoch": result.resumed_from_epoch,
                "seconds": round(time.perf_counter() - started, 2),
            }
            job_service.finish(
                session, job_id=job_id, status="succeeded", result=outcome, error=None, actor=config.actor
            )
        return outcome, stage

    outcome, stage = _retrying(register_and_gate, what=f"job {job_id} candidate")
    if tracker is not None and result.tracking_run_id:
        version = str(outcome["candidate"]).rpartition("@")[2]
        _mirror(tracker, str(current["name"]), result.tracking_run_id, version, stage)
    return outcome


def _tracker(config: WorkerConfig, experiment: str) -> Any:
    try:
        from trainer.tracking import MlflowTracker
    except ImportError:  # pragma: no cover - tracking ships with the trainer
        return None
    local_dir = config.storage_root / "mlruns"
    if config.mlflow_uri is not None:
        return MlflowTracker(config.mlflow_uri, experiment, local_dir=local_dir)
    # MLflow migrates a new local SQLite store on first use; two workers doing it at once collide,
    # so the first opening is serialised across processes with a lock file beside the store.
    import fcntl

    local_dir.mkdir(parents=True, exist_ok=True)
    with (local_dir / ".open.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return MlflowTracker(None, experiment, local_dir=local_dir)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _mirror(tracker: Any, name: str, run_id: str, version: str, stage: str) -> None:
    """Register the run's model in MLflow as the platform's ``version`` and move the aliases to match."""
    try:
        registered = tracker.register(name, run_id)
        tracker.tag_version(name, registered, version)
        tracker.mirror_stage(name, registered, stage)
    except Exception as exc:  # MLflow is a mirror: the registry stays the system of record
        logger.warning("could not mirror %s (run %s) to MLflow: %s", name, run_id, exc)


def work(
    db: Database,
    *,
    config: WorkerConfig,
    once: bool = False,
    poll_seconds: float = 5.0,
    max_jobs: int | None = None,
) -> list[dict[str, Any]]:
    """Claim and run jobs until none is left (``once``) or forever."""
    done: list[dict[str, Any]] = []
    while max_jobs is None or len(done) < max_jobs:
        lease = timedelta(seconds=config.lease_seconds)
        job_id = job_service.claim(db, worker=config.name, lease=lease)
        if job_id is None:
            if once:
                break
            time.sleep(poll_seconds)
            continue
        logger.warning("worker %s: running retrain job %s", config.name, job_id)
        try:
            with Heartbeat(
                partial(job_service.renew, db, job_id=job_id, worker=config.name, lease=lease),
                every=config.lease_seconds / 3,
                name=f"retrain job {job_id}",
            ):
                outcome = run_job(db, job_id=job_id, config=config)
            done.append({"id": job_id, "status": "succeeded", **outcome})
        except Exception as exc:
            message = str(exc) if isinstance(exc, GovernError) else f"{type(exc).__name__}: {exc}"
            logger.error("retrain job %s failed: %s", job_id, message)
            with db.transaction() as session:
                job_service.finish(
                    session, job_id=job_id, status="failed", result={}, error=message, actor=config.actor
                )
            done.append({"id": job_id, "status": "failed", "error": message})
    return done


__all__ = ["Model", "WorkerConfig", "run_job", "work", "worker_name"]
