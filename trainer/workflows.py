"""The platform's workflows: each sequence that several entry points run, written once here.

==============================  ==========================================  ============================
workflow                        steps                                       run by
==============================  ==========================================  ============================
:func:`register_dataset_with_   inspect the file, its quality report,       ``govern dataset register``,
quality`                        register the version                        ``PUT /datasets/..``, a
                                                                            retrain's training set
:func:`run_window`              claim the (monitor, window), load, run the  ``govern monitor run``, the
                                check, store the run with its alert         scheduler and its process
                                                                            pool
:func:`run_retrain_job`         training set, snapshot, fit, gates,         ``govern worker``
                                candidate (see :mod:`trainer.retrain`)
:func:`promote`                 promote by the policy; after the commit     ``govern promote``, ``POST
                                MLflow's aliases follow                     /models/../promote``
                                (:func:`mirror_promotion`)
:func:`promote_candidate`       the policy's verdict picks production or    a retrain job
                                staging
==============================  ==========================================  ============================

The entry points parse their input, open the transaction where the workflow takes a session, and
print; the rules stay in the governance services the steps call.

Why in ``trainer``: a workflow joins the governance core with the monitors (quality reports,
checks) and with the trainer (retraining, the MLflow mirror). The core must not import either, and
``monitors`` sits below ``trainer`` (the trainer's gates use the monitors' checks), so ``trainer``
is the one package each of them may live in without an import pointing outward. Whatever is heavy
(PyTorch, MLflow) is imported inside the step that needs it, so a scheduler process that only runs
windows does not load it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from governance.approval.service import ApprovalPolicy
from governance.auth.principal import Principal
from governance.dataset import service as dataset_service
from governance.dataset.files import DatasetFile, inspect_file
from governance.db import Database
from governance.errors import ComplianceViolation, GovernError
from governance.mlmodel.models import ModelVersion
from governance.monitoring import service as monitoring
from governance.monitoring.lease import Heartbeat
from governance.monitoring.schedule import Window
from governance.promotion import StageChange, stage_changes, verdict
from governance.promotion import promote as promote_version
from governance.storage import LocalStorage, StorageRoot
from monitors import runner
from monitors.runner import RunReport
from monitors.sandbox import ModelCheckLimits

if TYPE_CHECKING:
    from trainer.config import WorkerConfig

logger = logging.getLogger(__name__)


# -- datasets ------------------------------------------------------------------------------------
def register_dataset_with_quality(
    session: Session,
    *,
    file: Path | DatasetFile,
    storage: LocalStorage | None,
    quality: bool = True,
    label_column: str | None = None,
    **fields: Any,
) -> dataset_service.Registration:
    """Inspect ``file`` (a bad file is refused before anything is written), compute its quality
    report (unless ``quality`` is off) and register it; ``fields`` are
    :func:`governance.dataset.service.register`'s."""
    from monitors.quality_io import file_report

    inspected = file if isinstance(file, DatasetFile) else inspect_file(file)
    report = file_report(inspected.path, label=label_column) if quality else None
    return dataset_service.register(
        session, storage=storage, file=inspected, label_column=label_column, quality_report=report, **fields
    )


# -- monitor windows -----------------------------------------------------------------------------
def run_window(
    db: Database,
    *,
    monitor_id: int,
    window: Window,
    worker: str,
    actor: str,
    storage_root: StorageRoot,
    lease: timedelta = monitoring.DEFAULT_LEASE,
    model_limits: ModelCheckLimits | None = None,
) -> RunReport | None:
    """Claim and run one window; None when another process has it (or it already ran).

    While the check runs a heartbeat renews the run's short lease, so a process killed mid-run
    leaves a ``running`` row whose lease runs out soon, and a later claim runs the window again.
    A failure leaves the run in ``error`` (retried by a later tick). Checks that run the model's
    code run in a child process under ``model_limits`` (see :mod:`monitors.sandbox`)."""
    run_id = monitoring.claim(db, monitor_id=monitor_id, window=window, worker=worker, lease=lease)
    if run_id is None:
        return None
    started = time.perf_counter()
    name = str(monitor_id)
    with Heartbeat(
        partial(monitoring.renew, db, run_id=run_id, worker=worker, lease=lease),
        every=max(0.2, lease.total_seconds() / 3),
        name=f"monitor run {run_id}",
    ):
        try:
            data = runner.load_window(db, monitor_id=monitor_id, window=window, storage_root=storage_root)
            name = str(data.monitor["name"])
            logger.info(
                "monitor %s (%s): window %s, %d records",
                name,
                data.monitor["kind"],
                window.label(),
                len(data.frame),
            )
            outcome = runner.evaluate(data, model_limits)
        except Exception as exc:  # the run fails, the window is retried; nothing half-written
            return runner.store_failure(
                db, run_id=run_id, name=name, window=window, error=exc, started=started
            )
    return runner.store(db, run_id=run_id, data=data, outcome=outcome, started=started, actor=actor)


# -- retrain jobs --------------------------------------------------------------------------------
def run_retrain_job(db: Database, *, job_id: int, config: WorkerConfig) -> dict[str, Any]:
    """Carry a claimed retrain job to a gated, promoted (or staged) candidate; the job's result."""
    from trainer import retrain

    started = time.perf_counter()
    data = retrain.register_training_set(db, job_id=job_id, config=config)
    snap = retrain.take_snapshot(db, job_id=job_id, data=data, config=config)
    fitted = retrain.fit(db, snap, config=config)
    checks = retrain.gate(snap, fitted)
    explained = retrain.explain(snap, fitted)  # what the candidate relies on, kept with it
    outcome = retrain.register_candidate(
        db, snap, fitted, checks, config=config, started=started, explained=explained
    )
    retrain.mirror(snap, fitted, outcome)
    return outcome


# -- promotion -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Promotion:
    """The stage transitions one promotion made (the version's, and the one it displaced)."""

    model: str
    stage: str  # the version's stage afterwards
    transitions: list[dict[str, Any]]
    changes: list[StageChange]


def promote(
    session: Session,
    *,
    mv: ModelVersion,
    stage: str,
    principal: Principal,
    reason: str | None,
    approvals: ApprovalPolicy,
) -> Promotion:
    """Move ``mv`` to ``stage`` by the promotion policy; after the commit, :func:`mirror_promotion`."""
    transitions = promote_version(
        session, mv=mv, stage=stage, principal=principal, reason=reason, approvals=approvals
    )
    rows = [
        {"version": t.model_version.ref, "from": t.from_stage, "to": t.to_stage, "reason": t.reason}
        for t in transitions
    ]
    return Promotion(mv.ref, mv.stage, rows, stage_changes(transitions))


def mirror_promotion(promotion: Promotion, *, mlflow_uri: str | None, storage_root: StorageRoot) -> None:
    """Once the promotion is committed, MLflow's aliases follow (nothing opened when no version
    involved was tracked in MLflow)."""
    if not any(c.mlflow_run_id for c in promotion.changes):
        return
    from trainer.tracking import mirror_stage_changes

    mirror_stage_changes(
        promotion.changes, tracking_uri=mlflow_uri, local_dir=LocalStorage(storage_root).local_dir("mlruns")
    )


def promote_candidate(
    session: Session, *, mv: ModelVersion, approvals: ApprovalPolicy, actor: str, reason: str
) -> tuple[str, dict[str, Any]]:
    """A candidate that passed its gates goes to production when the policy of its risk tier is met,
    else to staging to await approvals and the rest; its stage and the policy's verdict."""
    judged = verdict(session, mv=mv, approvals=approvals)
    target = "production" if judged.ok else "staging"
    if not judged.ok:
        logger.warning("candidate %s goes to staging: %s", mv.ref, judged.refusal())
    try:
        promote_version(
            session,
            approvals=approvals,
            mv=mv,
            stage=target,
            principal=Principal.system(actor),
            reason=reason,
        )
    except (ComplianceViolation, GovernError) as refused:
        logger.warning("candidate %s stays %s: %s", mv.ref, mv.stage, refused)
        return mv.stage, judged.to_dict()
    return target, judged.to_dict()


__all__ = [
    "Promotion",
    "mirror_promotion",
    "promote",
    "promote_candidate",
    "register_dataset_with_quality",
    "run_retrain_job",
    "run_window",
]
