from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pytest
import torch
from mlflow import MlflowClient

from governance.errors import NotFound
from trainer.architectures import MLPConfig
from trainer.config import TrainConfig
from trainer.data import TensorData
from trainer.loop import EpochMetrics, train
from trainer.modelio import load_model
from trainer.tracking import CHALLENGER, CHAMPION, MlflowTracker, local_tracking_uri


def config(data: TensorData) -> MLPConfig:
    return MLPConfig(n_features=data.n_features, n_outputs=data.n_classes, hidden=(8,), standardize=True)


@pytest.fixture
def tracker(tmp_path: Path) -> MlflowTracker:
    return MlflowTracker(None, "retrainer-tests", local_dir=tmp_path / "mlflow")


class Interrupt(Exception):
    pass


@pytest.mark.slow
def test_a_run_records_params_epochs_artifacts_and_the_model(
    blobs: TensorData, tracker: MlflowTracker, tmp_path: Path
) -> None:
    train_config = TrainConfig(epochs=4, lr=1e-2, seed=3, device="cpu", checkpoint_dir=tmp_path / "ck")

    def stop_after_two(metrics: EpochMetrics) -> None:
        if metrics.epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(config(blobs), blobs, train_config, tracker=tracker, on_epoch=stop_after_two)
    client = MlflowClient(tracking_uri=local_tracking_uri(tmp_path / "mlflow"))
    assert client.get_run(tracker.run_id or "").info.status == "FAILED"

    # A resumed training continues the same MLflow run.
    again = MlflowTracker(None, "retrainer-tests", local_dir=tmp_path / "mlflow")
    result = train(config(blobs), blobs, train_config, tracker=again)
    assert result.tracking_run_id == tracker.run_id
    run = client.get_run(result.tracking_run_id or "")
    assert run.info.status == "FINISHED"
    assert run.data.params["lr"] == "0.01" and run.data.params["seed"] == "3"
    assert run.data.params["data_fingerprint"] == blobs.fingerprint
    assert run.data.tags["model_sha256"] == result.model_sha256
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [(m.step, m.value) for m in history] == [(m.epoch, m.val_loss) for m in result.history]
    assert run.data.metrics["best_epoch"] == result.best_epoch

    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"history.json", "platform_model"} <= artifacts
    folder = Path(client.download_artifacts(run.info.run_id, "", str(tmp_path / "download")))
    assert len(json.loads((folder / "history.json").read_text())) == 4
    platform = load_model(
        folder / "platform_model" / "model.zip", expected_sha256=result.model_sha256, device="cpu"
    )
    assert platform.config == config(blobs)

    # The MLflow model (pt2) predicts what the trained module predicts.
    mlflow.set_tracking_uri(tracker.tracking_uri)
    logged = mlflow.pytorch.load_model(again.model_uri)
    assert torch.allclose(logged(blobs.x_test), result.module(blobs.x_test), atol=1e-6)


@pytest.mark.slow
def test_stages_are_mirrored_as_champion_and_challenger(blobs: TensorData, tracker: MlflowTracker) -> None:
    first = train(config(blobs), blobs, TrainConfig(epochs=2, device="cpu"), tracker=tracker)
    v1 = tracker.register_and_alias("fraud", first.tracking_run_id, alias=CHALLENGER)
    tracker.mirror_stage("fraud", v1, "production")
    second = train(config(blobs), blobs, TrainConfig(epochs=2, seed=1, device="cpu"), tracker=tracker)
    v2 = tracker.register_and_alias("fraud", second.tracking_run_id, alias=CHALLENGER)

    client = MlflowClient(tracking_uri=tracker.tracking_uri, registry_uri=tracker.tracking_uri)
    assert str(client.get_model_version_by_alias("fraud", CHAMPION).version) == v1 == "1"
    challenger = client.get_model_version_by_alias("fraud", CHALLENGER)
    assert str(challenger.version) == v2 == "2"
    assert challenger.run_id == second.tracking_run_id  # the version is linked to its run

    tracker.mirror_stage("fraud", v2, "production")
    assert tracker.aliases("fraud") == {CHAMPION: "2"}
    tracker.mirror_stage("fraud", v2, "archived")
    assert tracker.aliases("fraud") == {}
    with pytest.raises(NotFound):
        tracker.set_alias("fraud", 7, CHAMPION)
