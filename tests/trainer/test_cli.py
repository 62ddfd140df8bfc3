from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from mlflow import MlflowClient

from tests.trainer.factories import blobs_frame
from trainer.modelio import load_model
from trainer.tracking import local_tracking_uri
from trainer.train import main


def test_trains_from_reference_and_production_files(tmp_path: Path) -> None:
    blobs_frame(200, seed=0).to_csv(tmp_path / "ref.csv", index=False)
    blobs_frame(80, seed=1).to_parquet(tmp_path / "labelled.parquet")
    args = ["--reference", str(tmp_path / "ref.csv"), "--production", str(tmp_path / "labelled.parquet")]
    args += ["--label", "label", "--epochs", "3", "--hidden", "8", "--device", "cpu", "--threads", "1"]
    args += ["--checkpoint-dir", str(tmp_path / "ck"), "--output", str(tmp_path / "m.zip")]
    args += ["--mlflow-dir", str(tmp_path / "mlflow"), "--experiment", "cli"]
    result = CliRunner().invoke(main, [*args, "--result", str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "r.json").read_text())
    assert summary["epochs_run"] == 3 and summary["world_size"] == 1
    loaded = load_model(tmp_path / "m.zip", expected_sha256=summary["model_sha256"], device="cpu")
    assert loaded.feature_names == ["a", "b", "c", "d"]
    assert loaded.metadata["classes"] == ["no", "yes"]
    client = MlflowClient(tracking_uri=local_tracking_uri(tmp_path / "mlflow"))
    run = client.get_run(summary["tracking_run_id"])
    assert run.info.status == "FINISHED" and run.data.params["epochs"] == "3"


def test_bad_input_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--dataset", "breast-cancer", "--model", "cnn", "--epochs", "1"])
    assert result.exit_code == 1 and "a CNN needs image data" in result.output
