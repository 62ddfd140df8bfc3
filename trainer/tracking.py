"""MLflow tracking of training runs, and the registry's stages mirrored as MLflow aliases.

Every run records its parameters, per-epoch metrics (``step`` = epoch), the history as JSON, the
platform archive the registry stores, and the model as an MLflow PyTorch model in the ``pt2``
(``torch.export``) format, which loads without unpickling code. A resumed run continues the same
MLflow run. The platform's stages appear to MLflow users as aliases on the registered model:
``champion`` is the production version, ``challenger`` the candidate. Each MLflow model version
carries the tag ``govern.version`` with the platform's version (MLflow numbers its own versions,
which need not match), and :func:`mirror_stage_changes` moves the aliases after any promotion, a
retrain's or a person's (the CLI and the API call it once their transaction has committed).

The default store is a SQLite database and an artifact folder under a local directory
(``sqlite:///<dir>/mlflow.db``, which MLflow's model registry supports offline);
``GOVERN_MLFLOW_URI`` (read by the entry point, passed here) names a server instead. MLflow's
telemetry is switched off before MLflow is imported, so nothing here reaches the network unless
the URI points there.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")

import mlflow
import torch
from mlflow.entities import Metric, Param, RunStatus
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient

from governance.errors import NotFound, Unavailable
from governance.promotion import StageChange
from trainer.loop import EpochMetrics, TrainResult

logger = logging.getLogger(__name__)

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT = "model"
STAGE_ALIASES = {"production": CHAMPION, "candidate": CHALLENGER, "staging": CHALLENGER}
GOVERN_VERSION_TAG = "govern.version"
_MAX_PARAM_LENGTH = 6000


def local_tracking_uri(directory: str | Path) -> str:
    """The default store: a SQLite database in ``directory`` (artifacts beside it)."""
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{directory / 'mlflow.db'}"


class MlflowTracker:
    """Records training runs in one MLflow experiment and keeps the registry's aliases.

    Parameters
    ----------
    tracking_uri
        An MLflow tracking URI; ``None`` uses the local store in ``local_dir``.
    experiment
        The experiment's name (created when missing).
    local_dir
        The folder of the default local store (default ``./mlruns``); its ``artifacts`` subfolder
        holds the artifacts of a new experiment.
    """

    def __init__(
        self, tracking_uri: str | None, experiment: str, *, local_dir: str | Path | None = None
    ) -> None:
        folder = Path(local_dir) if local_dir is not None else Path("mlruns")
        self.tracking_uri = tracking_uri or local_tracking_uri(folder)
        self.client = MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)
        self.run_id: str | None = None
        self.model_uri: str | None = None
        try:
            found = self.client.get_experiment_by_name(experiment)
            if found is not None:
                self.experiment_id = found.experiment_id
            else:
                location = (folder.resolve() / "artifacts").as_uri() if tracking_uri is None else None
                self.experiment_id = self.client.create_experiment(experiment, artifact_location=location)
        except MlflowException as exc:
            raise Unavailable(f"the MLflow tracking store {self.tracking_uri} cannot be used: {exc}") from exc

    # -- the Tracker protocol of trainer.loop -------------------------------------------------

    def start(self, params: dict[str, Any], *, run_id: str | None = None) -> str:
        """Open a run, or reopen ``run_id`` (a resumed training), and log ``params``."""
        if run_id is not None:
            self.client.update_run(run_id, status=RunStatus.to_string(RunStatus.RUNNING))
        else:
            run_id = self.client.create_run(
                self.experiment_id, tags={"platform": "model-governance"}
            ).info.run_id
        self.run_id = run_id
        existing = self.client.get_run(run_id).data.params
        fresh = [
            Param(key, str(value)[:_MAX_PARAM_LENGTH])
            for key, value in sorted(params.items())
            if key not in existing
        ]
        for start in range(0, len(fresh), 100):
            self.client.log_batch(run_id, params=fresh[start : start + 100])
        return run_id

    def log_epoch(self, metrics: EpochMetrics) -> None:
        values = {
            "train_loss": metrics.train_loss,
            "val_loss": metrics.val_loss,
            "val_accuracy": metrics.val_accuracy,
            "lr": metrics.lr,
            "epoch_seconds": metrics.seconds,
        }
        self.client.log_batch(self._run(), metrics=_metrics(values, step=metrics.epoch))

    def finish(self, result: TrainResult, example_input: torch.Tensor) -> None:
        """Log the outcome, the history, the saved model file and the MLflow model; end the run."""
        run_id = self._run()
        summary = {
            "best_epoch": result.best_epoch,
            "epochs_run": result.epochs_run,
            "best_val_loss": result.val_metrics["loss"],
            "best_val_accuracy": result.val_metrics["accuracy"],
            "test_loss": result.test_metrics["loss"],
            "test_accuracy": result.test_metrics["accuracy"],
            "samples_per_second": result.samples_per_second,
            "wall_seconds": result.wall_seconds,
        }
        self.client.log_batch(run_id, metrics=_metrics(summary, step=result.epochs_run))
        self.client.set_tag(run_id, "stopped_early", str(result.stopped_early))
        if result.model_sha256:
            self.client.set_tag(run_id, "model_sha256", result.model_sha256)
        with tempfile.TemporaryDirectory() as folder:
            history = Path(folder) / "history.json"
            history.write_text(json.dumps([asdict(m) for m in result.history], indent=2))
            self.client.log_artifact(run_id, str(history))
        if result.model_path is not None:
            self.client.log_artifact(run_id, str(result.model_path), artifact_path="platform_model")
        self.model_uri = self._log_model(run_id, result.module, example_input)
        self.client.set_tag(run_id, "mlflow_model_uri", self.model_uri)
        self.client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
        logger.info("MLflow run %s finished; model %s", run_id, self.model_uri)

    def fail(self) -> None:
        if self.run_id is not None:
            self.client.set_terminated(self.run_id, RunStatus.to_string(RunStatus.FAILED))

    # -- the registry's mirror -----------------------------------------------------------------

    def register(self, name: str, run_id: str | None = None, artifact_path: str = MODEL_ARTIFACT) -> str:
        """Register the model a run logged as a new version of ``name``; return the version.

        The version records ``run_id`` as its source run.
        """
        run_id = run_id or self._run()
        uri = f"runs:/{run_id}/{artifact_path}"
        if artifact_path == MODEL_ARTIFACT:
            uri = self.client.get_run(run_id).data.tags.get("mlflow_model_uri", uri)
        with self._fluent(), _mlflow_prints_as_log():
            version = mlflow.register_model(uri, name)
        logger.info("registered %s version %s in MLflow", name, version.version)
        return str(version.version)

    def register_and_alias(
        self,
        name: str,
        run_id: str | None = None,
        artifact_path: str = MODEL_ARTIFACT,
        alias: str = CHALLENGER,
    ) -> str:
        """Register the run's model and point ``alias`` at the new version; return the version."""
        version = self.register(name, run_id, artifact_path)
        self.set_alias(name, version, alias)
        return version

    def set_alias(self, name: str, version: str | int, alias: str) -> None:
        """Point ``alias`` (``champion``, ``challenger``) of ``name`` at ``version``."""
        try:
            self.client.set_registered_model_alias(name, alias, str(version))
        except MlflowException as exc:
            raise NotFound(f"MLflow has no version {version} of registered model {name!r}.") from exc

    def remove_alias(self, name: str, alias: str) -> None:
        try:
            self.client.delete_registered_model_alias(name, alias)
        except MlflowException:
            logger.debug("alias %s of %s was not set", alias, name)

    def aliases(self, name: str) -> dict[str, str]:
        """Every alias of ``name`` and the version it points at."""
        return {
            alias: str(version) for alias, version in self.client.get_registered_model(name).aliases.items()
        }

    def tag_version(self, name: str, version: str | int, govern_version: str) -> None:
        """Mark MLflow's ``version`` of ``name`` as the platform's ``govern_version``."""
        self.client.set_model_version_tag(name, str(version), GOVERN_VERSION_TAG, str(govern_version))

    def version_of(self, name: str, govern_version: str, run_id: str | None = None) -> str | None:
        """MLflow's version of ``name`` that is the platform's ``govern_version`` (found by its tag,
        else by the run that logged it, which is then tagged); None when MLflow has none."""
        try:
            found = self.client.search_model_versions(f"name='{name}'")
        except MlflowException:
            return None
        for mv in found:
            if mv.tags.get(GOVERN_VERSION_TAG) == str(govern_version):
                return str(mv.version)
        for mv in found:
            if run_id is not None and mv.run_id == run_id and GOVERN_VERSION_TAG not in mv.tags:
                self.tag_version(name, mv.version, govern_version)
                return str(mv.version)
        return None

    def mirror_stage(self, name: str, version: str | int, stage: str) -> None:
        """Show a platform stage change in MLflow.

        ``production`` moves ``champion`` to ``version`` (and drops ``challenger`` if it pointed
        there); ``candidate`` and ``staging`` move ``challenger``; ``archived`` removes the
        aliases that point at ``version``.
        """
        current = self.aliases(name)
        if stage in STAGE_ALIASES:
            alias = STAGE_ALIASES[stage]
            self.set_alias(name, version, alias)
            if alias == CHAMPION and current.get(CHALLENGER) == str(version):
                self.remove_alias(name, CHALLENGER)
        else:
            for alias, pointed in current.items():
                if pointed == str(version):
                    self.remove_alias(name, alias)

    # -- helpers -------------------------------------------------------------------------------

    def _run(self) -> str:
        if self.run_id is None:
            raise NotFound("no MLflow run was started.")
        return self.run_id

    @contextmanager
    def _fluent(self) -> Iterator[None]:
        """MLflow's module-level API (model logging, registration) pointed at this store."""
        previous_tracking, previous_registry = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
        mlflow.set_tracking_uri(self.tracking_uri)
        mlflow.set_registry_uri(self.tracking_uri)
        try:
            yield
        finally:
            mlflow.set_tracking_uri(previous_tracking)
            mlflow.set_registry_uri(previous_registry)

    def _log_model(self, run_id: str, module: torch.nn.Module, example_input: torch.Tensor) -> str:
        with self._fluent(), mlflow.start_run(run_id=run_id):
            info = mlflow.pytorch.log_model(
                module.cpu().eval(),
                name=MODEL_ARTIFACT,
                input_example=example_input.numpy(),
                serialization_format="pt2",
                pip_requirements=[
                    f"torch=={torch.__version__.split('+')[0]}",
                    f"mlflow=={mlflow.__version__}",
                ],
            )
        return str(info.model_uri)


def mirror_stage_changes(
    changes: Sequence[StageChange], *, tracking_uri: str | None, local_dir: Path
) -> list[tuple[str, str, str]]:
    """Move the MLflow aliases after committed stage changes; returns (model, MLflow version, stage)
    for each one mirrored. MLflow is a mirror: a failure is logged, never raised, and nothing is
    opened when no change concerns a version MLflow tracked (or the local store does not exist)."""
    tracked = [c for c in changes if c.mlflow_run_id]
    if not tracked or (tracking_uri is None and not (local_dir / "mlflow.db").exists()):
        return []
    done: list[tuple[str, str, str]] = []
    trackers: dict[str, MlflowTracker] = {}
    for change in tracked:
        try:
            tracker = trackers.get(change.model) or MlflowTracker(
                tracking_uri, change.model, local_dir=local_dir
            )
            trackers[change.model] = tracker
            version = tracker.version_of(change.model, change.version, change.mlflow_run_id)
            if version is None:
                continue
            tracker.mirror_stage(change.model, version, change.stage)
            done.append((change.model, version, change.stage))
        except Exception as exc:  # the registry stays the system of record
            logger.warning(
                "could not mirror %s@%s → %s to MLflow: %s", change.model, change.version, change.stage, exc
            )
    return done


@contextmanager
def _mlflow_prints_as_log() -> Iterator[None]:
    """MLflow prints registry events straight to stderr; they belong in the log, not the user's output."""
    from mlflow.utils import logging_utils

    stream = logging_utils.MLFLOW_LOGGING_STREAM
    enabled = stream.enabled
    stream.enabled = logger.isEnabledFor(logging.DEBUG)
    try:
        yield
    finally:
        stream.enabled = enabled


def _metrics(values: dict[str, float], *, step: int) -> list[Metric]:
    timestamp = int(time.time() * 1000)
    return [Metric(key, float(value), timestamp, step) for key, value in values.items()]
