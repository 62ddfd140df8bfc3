"""``govern performance`` and ``govern quality`` end to end on real CSV and Parquet files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from governance.cli import main
from tests.monitors.models import breast_cancer
from tests.monitors.test_quality import clean_frame


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def _scored(tmp_path: Path, flip_from: int = 150) -> pd.DataFrame:
    """Validation and test rows of a real model; the labels of rows from ``flip_from`` on are inverted."""
    f = breast_cancer()
    x, y = np.r_[f.x_val, f.x_test], np.r_[f.y_val, f.y_test]
    y = y.copy()
    y[flip_from:] = 1 - y[flip_from:]
    return pd.DataFrame(
        {
            "label": y,
            "pred": f.model.predict(x),
            "score": f.model.predict_proba(x)[:, 1],
            "t": pd.date_range("2026-01-01", periods=len(y), freq="1h"),
        }
    )


def test_performance_windows_and_drift_points_from_parquet(tmp_path: Path) -> None:
    frame = _scored(tmp_path)
    path = tmp_path / "scored.parquet"
    frame.to_parquet(path)
    code, out, err = invoke(
        "performance", str(path), "--label", "label", "--prediction", "pred", "--score", "score",
        "--window", "50", "--baseline", "accuracy=0.97", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert [w["start"] for w in data["windows"]] == [0, 50, 100, 150, 200, 250]
    assert [w["status"] for w in data["windows"]] == ["ok", "ok", "ok", "breach", "breach", "breach"]
    assert data["windows"][0]["accuracy_ci"][0] <= data["windows"][0]["accuracy"]
    assert "roc_auc" in data["windows"][0]
    assert data["drift_points"] == [191]
    assert all(p > 150 for p in data["drift_points"])


def test_performance_time_windows_csv_gz_and_file_positions(tmp_path: Path) -> None:
    frame = _scored(tmp_path).iloc[::-1]  # the file is in reverse time order
    path = tmp_path / "scored.csv.gz"
    with gzip.open(path, "wt") as handle:
        frame.to_csv(handle, index=False)
    code, out, err = invoke(
        "performance", str(path), "--label", "label", "--prediction", "pred",
        "--time-column", "t", "--freq", "1D", "--detector", "ddm", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert len(data["windows"]) == 12
    assert data["windows"][0]["start"] == "2026-01-01T00:00:00"
    assert data["windows"][0]["n"] == 24
    # The stream runs in time order; the drift points are positions in the reversed file.
    assert data["drift_points"]
    assert all(p < len(frame) - 150 for p in data["drift_points"])


def test_performance_human_output(tmp_path: Path) -> None:
    path = tmp_path / "scored.csv"
    _scored(tmp_path).to_csv(path, index=False)
    code, out, _ = invoke(
        "performance", str(path), "--label", "label", "--prediction", "pred", "--window", "100"
    )
    assert code == 0
    assert out.splitlines()[0].split() == ["START", "END", "N", "ACCURACY", "F1"]
    assert out.splitlines()[-1] == "drift detected (adwin) at rows: 191"


def test_regression_performance(tmp_path: Path) -> None:
    path = tmp_path / "reg.csv"
    pd.DataFrame({"y": np.r_[np.zeros(300), np.full(300, 5.0)], "p": np.zeros(600)}).to_csv(path, index=False)
    code, out, err = invoke(
        "performance", str(path), "--label", "y", "--prediction", "p", "--task", "regression",
        "--window", "300", "--detector", "page-hinkley", "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert [w["mae"] for w in data["windows"]] == [0.0, 5.0]
    assert 300 <= data["drift_points"][0] < 340


def test_quality_findings_as_json(tmp_path: Path) -> None:
    frame = clean_frame()
    leaked = frame[frame["split"] == "train"].head(3).assign(split="test")
    frame = pd.concat([frame, leaked], ignore_index=True)
    frame.loc[400, "diagnosis"] = frame.loc[400, "diagnosis"].upper()
    path = tmp_path / "data.parquet"
    frame.to_parquet(path)
    schema = tmp_path / "schema.json"
    schema.write_text(json.dumps({"mean radius": {"type": "float", "min": 7}}))
    code, out, err = invoke(
        "quality", str(path), "--label", "diagnosis", "--split-column", "split", "--protected", "sex",
        "--prediction", "prediction", "--min-examples", "100", "--schema", str(schema), "--json",
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    checks = [(f["dimension"], f["check"], f["column"], f["count"]) for f in data["findings"]]
    assert ("uniqueness", "cross_split_duplicates", "split", 3) in checks
    assert ("consistency", "case_or_spacing_variants", "diagnosis", 1) in checks
    assert ("validity", "out_of_bounds", "mean radius", int((frame["mean radius"] < 7).sum())) in checks
    assert data["status"] == "breach"
    assert set(data["findings"][0]) == {"dimension", "check", "column", "count", "severity", "message"}


def test_quality_human_output_on_clean_csv(tmp_path: Path) -> None:
    path = tmp_path / "clean.csv"
    clean_frame().to_csv(path, index=False)
    code, out, _ = invoke("quality", str(path), "--label", "target", "--split-column", "split")
    assert code == 0
    assert out.splitlines() == ["(none)", "No data quality problems were found in 569 rows."]


@pytest.mark.parametrize(
    ("command", "setup", "message"),
    [
        (["quality", "{dir}/missing.csv"], None, "data file {dir}/missing.csv does not exist"),
        (["quality", "{dir}/empty.csv"], "", "data file {dir}/empty.csv is empty: it has no header row"),
        (["quality", "{dir}/data.json"], "{}", "data file {dir}/data.json has an unsupported format"),
        (
            ["quality", "{dir}/bad.parquet"],
            "not parquet",
            "data file {dir}/bad.parquet is not a readable Parquet file",
        ),
        (
            ["quality", "{dir}/ok.csv", "--label", "y"],
            "a,b\n1,2\n",
            "label column 'y' is not in {dir}/ok.csv.",
        ),
        (["quality", "{dir}/ok.csv", "--protected", "sex"], "a,b\n1,2\n", "protected column 'sex' is not in"),
        (
            ["quality", "{dir}/ok.csv", "--schema", "{dir}/s.json"],
            "a,b\n1,2\n",
            "schema file {dir}/s.json does not exist.",
        ),
        (["quality", "{dir}/head.csv"], "a,b\n", "data file {dir}/head.csv has no rows."),
        (
            ["performance", "{dir}/ok.csv", "--label", "a", "--prediction", "c"],
            "a,b\n1,2\n",
            "prediction column 'c'",
        ),
        (
            [
                "performance",
                "{dir}/ok.csv",
                "--label",
                "a",
                "--prediction",
                "b",
                "--window",
                "5",
                "--freq",
                "1D",
            ],
            "a,b\n1,2\n",
            "give either --window or --freq",
        ),
        (
            ["performance", "{dir}/ok.csv", "--label", "a", "--prediction", "b", "--freq", "1D"],
            "a,b\n1,2\n",
            "a time frequency needs a time column.",
        ),
        (
            ["performance", "{dir}/ok.csv", "--label", "a", "--prediction", "b", "--baseline", "accuracy"],
            "a,b\n1,2\n",
            "--baseline must be METRIC=VALUE pairs",
        ),
        (
            [
                "performance",
                "{dir}/ok.csv",
                "--label",
                "a",
                "--prediction",
                "b",
                "--task",
                "regression",
                "--detector",
                "ddm",
            ],
            "a,b\n1,2\n",
            "detector ddm needs 0/1 errors",
        ),
        (
            ["performance", "{dir}/ok.csv", "--label", "a", "--prediction", "b", "--window", "0"],
            "a,b\n1,2\n",
            "window size 0 is not positive.",
        ),
    ],
)
def test_bad_inputs_exit_2_with_one_line(
    tmp_path: Path, command: list[str], setup: str | None, message: str
) -> None:
    args = [part.replace("{dir}", str(tmp_path)) for part in command]
    if setup is not None:
        Path(args[1]).write_text(setup)
    code, out, err = invoke(*args)
    assert code == 2, out + err
    assert err.startswith("error: " + message.replace("{dir}", str(tmp_path)))
    assert len(err.strip().splitlines()) == 1
