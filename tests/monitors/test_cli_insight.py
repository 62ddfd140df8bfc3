"""``govern robustness`` and ``govern explain`` end to end, bad inputs included."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from governance.cli import main
from monitors.robustness import AttackSettings, assess_robustness
from tests.monitors.conftest import Trained
from trainer.modelio import save_platform_model


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def digits_files(digits_mlp: Trained, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    root = tmp_path_factory.mktemp("digits")
    model = root / "mlp.zip"
    digest = save_platform_model(
        digits_mlp.model, digits_mlp.config, model, metadata={"feature_names": list(digits_mlp.feature_names)}
    )
    frame = pd.DataFrame(digits_mlp.x_test[:60], columns=list(digits_mlp.feature_names))
    frame["digit"] = digits_mlp.y_test[:60]
    data = root / "digits.csv"
    frame.to_csv(data, index=False)
    return model, data, digest


def test_robustness_json_matches_the_library(digits_mlp: Trained, digits_files, tmp_path: Path) -> None:
    model, data, digest = digits_files
    code, out, err = invoke(
        "robustness",
        str(model),
        str(data),
        "--label",
        "digit",
        "--epsilons",
        "0,0.05,0.1",
        "--attacks",
        "fgsm,pgd,deepfool",
        "--pgd-steps",
        "10",
        "--pgd-restarts",
        "1",
        "--seed",
        "4",
        "--sha256",
        digest,
        "--plot",
        str(tmp_path / "curve"),
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert {"clean_accuracy", "epsilons", "attacks", "worst_case", "warnings"} <= set(report)
    assert report["epsilons"] == [0.0, 0.05, 0.1] and set(report["attacks"]) == {"fgsm", "pgd", "deepfool"}
    direct = assess_robustness(
        digits_mlp.model,
        digits_mlp.x_test[:60],
        digits_mlp.y_test[:60],
        input_bounds=(0.0, 1.0),
        epsilons=(0, 0.05, 0.1),
        attacks=("fgsm", "pgd", "deepfool"),
        settings=AttackSettings(pgd_steps=10, pgd_restarts=1),
        seed=4,
    )
    assert report["worst_case"] == pytest.approx(list(direct.worst_case))
    assert report["space"] == "image" and report["model_sha256"] == digest
    assert (tmp_path / "curve.png").exists() and (tmp_path / "curve.svg").exists()


def test_robustness_of_a_torchscript_tabular_model_from_parquet(cancer_mlp: Trained, tmp_path: Path) -> None:
    model = tmp_path / "cancer.ts"
    torch.jit.save(torch.jit.script(cancer_mlp.model), model)
    frame = pd.DataFrame(cancer_mlp.x_test, columns=list(cancer_mlp.feature_names))
    frame["malignant"] = cancer_mlp.y_test
    frame.to_parquet(tmp_path / "window.parquet")
    reference = pd.DataFrame(cancer_mlp.x_train, columns=list(cancer_mlp.feature_names))
    reference.to_csv(tmp_path / "reference.csv", index=False)
    code, out, err = invoke(
        "robustness",
        str(model),
        str(tmp_path / "window.parquet"),
        "--label",
        "malignant",
        "--reference",
        str(tmp_path / "reference.csv"),
        "--epsilons",
        "0,0.05,0.5",
        "--attacks",
        "fgsm,noise",
        "--pgd-steps",
        "5",
    )
    assert code == 0, err
    assert "worst_case" in out.splitlines()[1].lower() and "clean accuracy" in out


def test_robustness_of_a_cnn_on_npz_images(digits_cnn: Trained, tmp_path: Path) -> None:
    model = tmp_path / "cnn.zip"
    save_platform_model(digits_cnn.model, digits_cnn.config, model)
    np.savez(tmp_path / "images.npz", X=digits_cnn.x_test[:30], y=digits_cnn.y_test[:30])
    code, out, err = invoke(
        "robustness",
        str(model),
        str(tmp_path / "images.npz"),
        "--label",
        "y",
        "--epsilons",
        "0,0.1",
        "--attacks",
        "fgsm",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["bounds"] == [0.0, 1.0]


def test_bad_inputs_exit_2_with_one_line(digits_mlp: Trained, digits_files, tmp_path: Path) -> None:
    model, data, _ = digits_files
    torch.save(digits_mlp.model, tmp_path / "pickled.pt")
    cases = [
        (("robustness", str(tmp_path / "missing.zip"), str(data), "--label", "digit"), "does not exist"),
        (
            ("robustness", str(model), str(data), "--label", "digit", "--sha256", "0" * 64),
            "registry recorded",
        ),
        (("robustness", str(model), str(data), "--label", "class"), "label column 'class'"),
        (
            ("robustness", str(model), str(data), "--label", "digit", "--epsilons", "0,abc"),
            "--epsilons must be",
        ),
        (
            ("robustness", str(model), str(data), "--label", "digit", "--attacks", "fgsm,bim"),
            "unknown attack 'bim'",
        ),
        (("robustness", str(tmp_path / "pickled.pt"), str(data), "--label", "digit"), "torch.save pickle"),
        (("robustness", str(model), str(tmp_path / "none.csv"), "--label", "digit"), "data file"),
        (("explain", str(model), str(data), "--label", "digit", "--rows", "0,999"), "out of range"),
        (("explain", str(model), str(data), "--rows", "0"), "the model takes 64 inputs"),
        (("explain", str(model), str(data), "--rows", "first"), "--rows must be"),
    ]
    for args, message in cases:
        code, out, err = invoke(*args)
        assert code == 2, (args, out, err)
        assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err


def test_explain_gives_top_features_per_row(cancer_mlp: Trained, tmp_path: Path) -> None:
    model = tmp_path / "cancer.zip"
    save_platform_model(cancer_mlp.model, cancer_mlp.config, model)
    frame = pd.DataFrame(cancer_mlp.x_test, columns=list(cancer_mlp.feature_names))
    frame["malignant"] = cancer_mlp.y_test
    frame.to_csv(tmp_path / "window.csv", index=False)
    code, out, err = invoke(
        "explain",
        str(model),
        str(tmp_path / "window.csv"),
        "--rows",
        "0,3",
        "--label",
        "malignant",
        "--top",
        "4",
        "--sanity",
        "--json",
    )
    assert code == 0, err
    report = json.loads(out)
    assert [r["row"] for r in report["rows"]] == [0, 3]
    assert all(len(r["top_features"]) == 4 for r in report["rows"])
    assert report["rows"][0]["top_features"][0]["feature"] in cancer_mlp.feature_names
    assert report["rows"][1]["label"] == int(cancer_mlp.y_test[3])
    assert "passed" in report["sanity"]
    code, out, err = invoke(
        "explain",
        str(model),
        str(tmp_path / "window.csv"),
        "--rows",
        "1",
        "--label",
        "malignant",
        "--method",
        "ablation",
    )
    assert code == 0, err
    assert out.startswith("row 1: class")
