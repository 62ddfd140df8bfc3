"""The steps of a retrain job; :func:`trainer.workflows.run_retrain_job` runs them in order.

1. :func:`register_training_set`: assemble the training set by the model's change plan
   (``trainer.training_data``) and register it, derived from the reference.
2. :func:`take_snapshot`: read everything else the job needs from the registry in one transaction
   into a frozen :class:`JobSnapshot` of plain values, so training runs with no session open.
3. :func:`fit`: split, train (resuming from the job's checkpoints when a previous worker was killed).
4. :func:`gate`: champion against challenger, robustness, consistency, with the plan's thresholds.
5. :func:`register_candidate`: one transaction registers the candidate with its lineage (its own
   training set as its reference for drift) and whether the retrain stayed inside its change plan,
   adds the license gate, records the gates' evidence, promotes by the promotion policy
   (:func:`trainer.workflows.promote_candidate`) and ends the job.
6. :func:`mirror`: MLflow's registry follows (a mirror; a failure is only logged).

A retried job reuses what an earlier attempt already registered: datasets and models are keyed by
content, and a registration that lost a race for a version number is run again (:func:`retrying`).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import numpy as np
from sqlalchemy.exc import IntegrityError

from governance.approval.service import ApprovalPolicy
from governance.audit import service as audit_service
from governance.changeplan import service as changeplan_service
from governance.compliance import service as compliance_service
from governance.dataset.models import DatasetVersion
from governance.db import Database
from governance.errors import GovernError
from governance.explanation import service as explanation_service
from governance.mlmodel import environment
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion
from governance.monitoring import jobs as job_service
from governance.policy import service as policy_service
from governance.storage import LocalStorage
from monitors.loaded_model import LoadedModel
from trainer import gates, training_data
from trainer.architectures import CNNConfig, MLPConfig
from trainer.config import AdversarialConfig, TrainConfig, WorkerConfig
from trainer.data import TrainingSplits, row_fingerprints, split_training_set, to_tensors
from trainer.loop import TrainResult, train
from trainer.modelio import load_model
from trainer.training_data import TrainingData, next_version, read_frame

logger = logging.getLogger(__name__)

T = TypeVar("T")


def retrying(step: Callable[[], T], *, what: str, attempts: int = 5) -> T:
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


def register_training_set(db: Database, *, job_id: int, config: WorkerConfig) -> TrainingData:
    def once() -> TrainingData:
        with db.transaction() as session:
            return training_data.register(
                session,
                job=job_service.get(session, job_id=job_id),
                storage=LocalStorage(config.storage_root),
                actor=config.actor,
            )

    return retrying(once, what=f"job {job_id} training set")


@dataclass(frozen=True)
class Artifact:
    ref: str
    path: Path
    sha256: str


@dataclass(frozen=True)
class JobSnapshot:
    """What a retrain job needs from the registry, read once: the version it retrains, the champion
    it must beat, the change plan it runs under and the training data it registered."""

    job_id: int
    reason: str
    model: str
    retrained: Artifact
    champion: Artifact
    intended_use: str
    risk_tier: str
    intended_purpose: str | None
    license_expression: str | None
    seed: int
    epochs: int
    patience: int
    adversarial: bool
    data: TrainingData = field(repr=False)
    training_ref: str
    reference_ref: str
    plan_version: int
    plan_gates: Mapping[str, Mapping[str, Any]]  # read-only: gate name -> its thresholds
    deviations: tuple[str, ...]  # how the job departs from its change plan; empty: within it
    champion_rows: np.ndarray = field(repr=False)  # read-only fingerprints of the champion's rows


def take_snapshot(db: Database, *, job_id: int, data: TrainingData, config: WorkerConfig) -> JobSnapshot:
    with db.transaction() as session:
        job = job_service.get(session, job_id=job_id)
        mv = job.model_version
        params = dict(job.params or {})
        reference = session.get(DatasetVersion, data.reference_id)
        assert reference is not None  # the training set was just registered from it
        plan = changeplan_service.get_version(session, model=mv.model, version=data.plan_version)
        epochs = int(params.get("epochs", config.epochs))
        adversarial = bool(params.get("adversarial"))
        champion = next(
            iter(model_service.list_versions(session, name=mv.model.name, stage="production")), mv
        )
        return JobSnapshot(
            job_id=job_id,
            reason=str(job.reason),
            model=mv.model.name,
            retrained=Artifact(mv.ref, Path(mv.artifact_location), mv.sha256),
            champion=Artifact(champion.ref, Path(champion.artifact_location), champion.sha256),
            intended_use=mv.intended_use,
            risk_tier=mv.risk_tier,
            intended_purpose=mv.intended_purpose,
            license_expression=mv.license_expression,
            seed=mv.seed if mv.seed is not None else 0,
            epochs=epochs,
            patience=int(params.get("patience", TrainConfig.patience)),
            adversarial=adversarial,
            data=data,
            training_ref=str(data.summary["training_set"]),
            reference_ref=reference.ref,
            plan_version=data.plan_version,
            plan_gates=MappingProxyType(
                {name: MappingProxyType(dict(t)) for name, t in plan.document["gates"].items()}
            ),
            deviations=tuple(
                changeplan_service.deviations(plan.document, epochs=epochs, adversarial=adversarial)
            ),
            champion_rows=_read_only(champion_training_rows(champion, data.features)),
        )


def _read_only(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


def champion_training_rows(mv: ModelVersion, features: list[str]) -> np.ndarray:
    """Fingerprints of the rows ``mv`` was trained on, from its lineage: its training (and
    validation) datasets, or its reference when it names neither."""
    links = [link for link in mv.datasets if link.role in ("train", "validation")] or [
        link for link in mv.datasets if link.role == "reference"
    ]
    found = []
    for link in links:
        dataset = link.dataset_version
        frame, label = read_frame(dataset), dataset.label_column
        if not label or any(c not in frame.columns for c in (*features, label)):
            logger.warning(
                "%s's dataset %s lacks the features or label; its rows are not matched", mv.ref, dataset.ref
            )
            continue
        frame = frame.loc[frame[label].notna() & frame[features].notna().all(axis=1)]
        found.append(row_fingerprints(frame, features=features, label=label))
    return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.uint64)


def architecture_for(current: LoadedModel, n_features: int, n_classes: int) -> MLPConfig | CNNConfig:
    """The retrained version's architecture with the new data's features and classes."""
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


@dataclass(frozen=True)
class Fitted:
    """The trained challenger with the split it learned from and how it was trained."""

    splits: TrainingSplits
    architecture: MLPConfig | CNNConfig
    train_config: TrainConfig
    result: TrainResult
    model_path: Path
    tracker: Any  # the MLflow tracker, or None

    @property
    def image_shape(self) -> tuple[int, int, int] | None:
        a = self.architecture
        return (a.in_channels, a.height, a.width) if isinstance(a, CNNConfig) else None

    @cached_property
    def challenger(self) -> LoadedModel:
        """The trained model, loaded once for the gates and the explanation: the platform archive
        :func:`fit` just saved (an architecture of ours and ``weights_only`` tensors, read by the
        safe loader), so running it here runs no code that came from outside the platform."""
        return load_model(self.model_path, device="cpu")


def fit(db: Database, snap: JobSnapshot, *, config: WorkerConfig) -> Fitted:
    current = load_model(snap.retrained.path, expected_sha256=snap.retrained.sha256, device="cpu")
    features, label = snap.data.features, snap.data.label
    splits = split_training_set(
        snap.data.reference,
        snap.data.production,
        label=label,
        features=features,
        seed=snap.seed,
        champion_rows=snap.champion_rows,
    )
    architecture = architecture_for(current, len(features), len(splits.classes))
    image_shape = (
        (architecture.in_channels, architecture.height, architecture.width)
        if isinstance(architecture, CNNConfig)
        else None
    )
    tensors = to_tensors(splits, image_shape=image_shape, input_bounds=architecture.input_bounds)
    checkpoint_dir = LocalStorage(config.storage_root).local_dir("checkpoints", f"job-{snap.job_id}")
    train_config = TrainConfig(
        epochs=snap.epochs,
        patience=snap.patience,
        seed=snap.seed,
        checkpoint_dir=checkpoint_dir,
        adversarial=AdversarialConfig() if snap.adversarial else None,
        cpu_threads=config.cpu_threads,
    )
    tracker = open_tracker(config, snap.model)
    lease = timedelta(seconds=config.lease_seconds)
    result = train(
        architecture,
        tensors,
        train_config,
        tracker=tracker,
        output_path=checkpoint_dir / "model.zip",
        on_epoch=lambda _m: job_service.heartbeat(db, job_id=snap.job_id, worker=config.name, lease=lease),
    )
    # with no held-out row (the champion saw every one) the test scores are NaN, which JSON refuses
    result = replace(result, test_metrics={k: v for k, v in result.test_metrics.items() if math.isfinite(v)})
    assert result.model_path is not None
    return Fitted(splits, architecture, train_config, result, result.model_path, tracker)


def gate(snap: JobSnapshot, fitted: Fitted) -> list[gates.Gate]:
    """The model gates with the change plan's thresholds (the license gate needs the registry)."""
    challenger = fitted.challenger
    champion = load_model(snap.champion.path, expected_sha256=snap.champion.sha256, device="cpu")
    features, label, splits, thresholds = (
        list(snap.data.features),
        snap.data.label,
        fitted.splits,
        snap.plan_gates,
    )
    x_test = splits.test[features].to_numpy(np.float32)
    if fitted.image_shape is not None:
        x_test = x_test.reshape(-1, *fitted.image_shape)
    y_test = splits.test[label].to_numpy()
    reference_x = splits.train[features].to_numpy(np.float32)
    x_consistency = x_test if len(x_test) else reference_x.reshape(-1, *x_test.shape[1:])
    return [
        gates.champion_challenger(
            champion,
            challenger,
            x_test,
            y_test,
            margin=float(thresholds["champion_challenger"]["margin"]),
            confidence=float(thresholds["champion_challenger"]["confidence"]),
            y_train=splits.train[label].to_numpy(),
        ),
        gates.robustness(
            champion,
            challenger,
            x_test,
            gates.class_indices(champion, y_test),
            gates.class_indices(challenger, y_test),
            epsilon=float(thresholds["robustness"]["epsilon"]),
            margin=float(thresholds["robustness"]["margin"]),
            confidence=float(thresholds["robustness"]["confidence"]),
            reference=reference_x,
            seed=snap.seed,
        ),
        gates.consistency(challenger, x_consistency, tolerance=float(thresholds["consistency"]["tolerance"])),
    ]


def explain(snap: JobSnapshot, fitted: Fitted) -> dict[str, Any] | None:
    """The candidate's global attributions over (at most 200 of) its training rows, as
    ``govern model register`` keeps them; None, with a warning, when they cannot be computed."""
    from monitors.explanations import explain_loaded

    features = list(snap.data.features)
    rows = fitted.splits.train[features].to_numpy(np.float32)
    if fitted.image_shape is not None:
        rows = rows.reshape(-1, *fitted.image_shape)
    names = features if len(features) == int(np.prod(rows.shape[1:])) else None
    try:
        return explain_loaded(fitted.challenger.module, rows, feature_names=names, what="the candidate")
    except GovernError as exc:
        logger.warning("the candidate's explanation was not computed: %s", exc)
        return None


def register_candidate(
    db: Database,
    snap: JobSnapshot,
    fitted: Fitted,
    checks: list[gates.Gate],
    *,
    config: WorkerConfig,
    started: float,
    explained: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The candidate, its gates, its explanation, its promotion and the job's end: one transaction
    (run again when a concurrent worker took the version number); the job's result."""
    return retrying(
        lambda: _register_candidate_once(
            db, snap, fitted, checks, config=config, started=started, explained=explained
        ),
        what=f"job {snap.job_id} candidate",
    )


def _register_candidate_once(
    db: Database,
    snap: JobSnapshot,
    fitted: Fitted,
    checks: list[gates.Gate],
    *,
    config: WorkerConfig,
    started: float,
    explained: dict[str, Any] | None,
) -> dict[str, Any]:
    from trainer.workflows import promote_candidate

    result = fitted.result
    with db.transaction() as session:
        candidate = model_service.register(
            session,
            storage=LocalStorage(config.storage_root),
            artifact=model_service.inspect_artifact(fitted.model_path),
            name=snap.model,
            version=next_version(
                [v.version for v in model_service.get_model(session, name=snap.model).versions]
            ),
            intended_use=snap.intended_use,
            risk_tier=snap.risk_tier,
            intended_purpose=snap.intended_purpose,
            actor=config.actor,
            license_expression=snap.license_expression,
            # its own training set is its reference: the next drift is measured against what it learned
            datasets=[(snap.training_ref, "train"), (snap.training_ref, "reference")],
            framework="pytorch",
            task="classification",
            dependencies=environment.capture_for_framework("pytorch"),
            hyperparameters={
                **fitted.train_config.to_params(),
                "architecture": fitted.architecture.kind,
                "retrained_from": snap.retrained.ref,
                "retrain_job": snap.job_id,
                "base_reference": snap.reference_ref,
                "change_plan": snap.plan_version,
            },
            seed=snap.seed,
            metrics={
                **{f"val_{k}": v for k, v in result.val_metrics.items()},
                **{f"test_{k}": v for k, v in result.test_metrics.items()},
                "val_rows": float(
                    len(fitted.splits.validation)
                ),  # the concept-drift monitor's baseline error
            },
            mlflow_run_id=result.tracking_run_id,
            description=f"retrained by job {snap.job_id} after: {snap.reason}",
        ).version
        if explained is not None:
            explanation_service.record(
                session,
                mv=candidate,
                attributions=explained["attributions"],
                method=str(explained["method"]),
                n_rows=int(explained["n_rows"]),
                seconds=float(explained["seconds"]),
                warnings=list(explained["warnings"]),
                dataset=explanation_service.dataset_for(candidate),
                source=f"retrain job {snap.job_id}",
                actor=config.actor,
            )
        changeplan_service.record_check(
            session,
            mv=candidate,
            plan=changeplan_service.get_version(session, model=candidate.model, version=snap.plan_version),
            found=list(snap.deviations),
            job_id=snap.job_id,
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
        if np.isfinite(robust.get("challenger_worst_case", math.nan)):  # the gate's attack is evidence
            policy_service.record_robustness(
                session,
                mv=candidate,
                epsilon=float(robust["epsilon"]),
                robust_accuracy=float(robust["challenger_worst_case"]),
                clean_accuracy=None,
                source=f"retrain job {snap.job_id} gate",
                actor=config.actor,
            )
        stage, policy = candidate.stage, None
        if passed:
            stage, policy = promote_candidate(
                session,
                mv=candidate,
                approvals=ApprovalPolicy.of(config),
                actor=config.actor,
                reason=f"passed the gates of retrain job {snap.job_id}",
            )
        outcome = {
            "candidate": candidate.ref,
            "stage": stage,
            "gates": [g.to_dict() for g in all_gates],
            "passed": passed,
            "policy": policy,
            "training_set": snap.training_ref,
            "training_data": snap.data.summary,
            "change_plan": {
                "version": snap.plan_version,
                "within": not snap.deviations,
                "deviations": list(snap.deviations),
            },
            "test_metrics": result.test_metrics,
            "mlflow_run_id": result.tracking_run_id,
            "champion": snap.champion.ref,
            "split": fitted.splits.summary(),
            "resumed_from_epoch": result.resumed_from_epoch,
            "seconds": round(time.perf_counter() - started, 2),
        }
        job_service.finish(
            session, job_id=snap.job_id, status="succeeded", result=outcome, error=None, actor=config.actor
        )
    return outcome


def open_tracker(config: WorkerConfig, experiment: str) -> Any:
    try:
        from trainer.tracking import MlflowTracker
    except ImportError:  # pragma: no cover - tracking ships with the trainer
        return None
    local_dir = LocalStorage(config.storage_root).local_dir("mlruns")
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


def mirror(snap: JobSnapshot, fitted: Fitted, outcome: dict[str, Any]) -> None:
    """Register the run's model in MLflow as the platform's version and move the aliases to match."""
    tracker, run_id = fitted.tracker, fitted.result.tracking_run_id
    if tracker is None or not run_id:
        return
    version = str(outcome["candidate"]).rpartition("@")[2]
    try:
        registered = tracker.register(snap.model, run_id)
        tracker.tag_version(snap.model, registered, version)
        tracker.mirror_stage(snap.model, registered, str(outcome["stage"]))
    except Exception as exc:  # MLflow is a mirror: the registry stays the system of record
        logger.warning("could not mirror %s (run %s) to MLflow: %s", snap.model, run_id, exc)
