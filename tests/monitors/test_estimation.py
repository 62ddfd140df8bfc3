"""CBPE (``govern estimate``): metrics against scikit-learn, estimates against NannyML, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from governance.cli import main
from governance.errors import InvalidInput
from monitors.estimation import CBPE, realized_metrics


def _calibrated(n: int, classes: int, seed: int) -> pd.DataFrame:
    """Rows whose labels are drawn from their own probabilities: a perfectly calibrated model."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(classes, 0.6), size=n)
    frame = pd.DataFrame({f"proba_{k}": p[:, k] for k in range(classes)})
    frame["prediction"] = p.argmax(axis=1)
    frame["label"] = [rng.choice(classes, p=row) for row in p]
    frame["ts"] = pd.date_range("2026-01-01", periods=n, freq="10min")
    return frame


@pytest.mark.parametrize("classes", [2, 3])
def test_realized_metrics_are_scikit_learns(classes: int) -> None:
    frame = _calibrated(3000, classes, seed=classes)
    scores = frame[[f"proba_{k}" for k in range(classes)]].to_numpy()
    truth, pred = frame["label"].to_numpy(), frame["prediction"].to_numpy()
    ours = realized_metrics(scores, truth, pred, ("roc_auc", "accuracy", "f1", "precision", "recall"))
    average = "binary" if classes == 2 else "macro"
    auc = (
        roc_auc_score(truth, scores[:, 1])
        if classes == 2
        else roc_auc_score(truth, scores, multi_class="ovr")
    )
    assert ours == pytest.approx(
        {
            "roc_auc": auc,
            "accuracy": accuracy_score(truth, pred),
            "f1": f1_score(truth, pred, average=average),
            "precision": precision_score(truth, pred, average=average),
            "recall": recall_score(truth, pred, average=average),
        },
        abs=1e-12,
    )


@pytest.mark.parametrize("classes", [2, 3])
def test_estimates_track_the_realized_metrics_of_a_calibrated_model(classes: int) -> None:
    frame = _calibrated(12_000, classes, seed=10 + classes)
    estimator = CBPE(label="label", prediction="prediction").fit(frame.iloc[:6000])
    result = estimator.estimate(frame.iloc[6000:], chunk_size=1000)
    assert [c.rows for c in result.chunks] == [1000] * 6 and result.classes == tuple(map(str, range(classes)))
    inside = total = 0
    for chunk in result.chunks:
        assert chunk.realized is not None
        for m, value in chunk.estimated.items():
            assert abs(value - chunk.realized[m]) < 0.05, (m, value, chunk.realized[m])
            assert chunk.lower[m] < value < chunk.upper[m]
            inside += chunk.lower[m] <= chunk.realized[m] <= chunk.upper[m]
            total += 1
    assert inside >= total - 1  # 3-SD bands


def test_estimates_agree_with_nannymls_cbpe_on_its_car_loan_data() -> None:
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
    nml = pytest.importorskip("nannyml")
    reference, analysis, targets = nml.load_synthetic_car_loan_dataset()
    reference, analysis = (
        reference.iloc[:20_000].copy(),
        analysis.merge(targets, on="id").iloc[:10_000].copy(),
    )
    for frame in (reference, analysis):
        frame["proba_0"], frame["proba_1"] = 1.0 - frame["y_pred_proba"], frame["y_pred_proba"]
    metrics = ["roc_auc", "f1", "accuracy"]
    ours = CBPE(label="repaid", prediction="y_pred", metrics=tuple(metrics)).fit(reference)
    mine = ours.estimate(analysis, chunk_size=5000)
    theirs = nml.CBPE(
        y_pred_proba="y_pred_proba",
        y_pred="y_pred",
        y_true="repaid",
        metrics=metrics,
        chunk_size=5000,
        problem_type="classification_binary",
    )
    frame = theirs.fit(reference).estimate(analysis).filter(period="analysis").to_df()
    for m in metrics:
        assert [c.estimated[m] for c in mine.chunks] == pytest.approx(frame[(m, "value")].tolist(), abs=2e-3)
        assert [c.realized[m] for c in mine.chunks if c.realized] == pytest.approx(
            frame[(m, "realized")].tolist(), abs=1e-12
        )


def test_time_chunks_follow_the_periods_in_row_order() -> None:
    frame = _calibrated(600, 2, seed=3)  # 10-minute steps: 144 rows a day
    estimator = CBPE(label="label", prediction="prediction", metrics=("accuracy",)).fit(frame)
    result = estimator.estimate(frame.drop(columns="label"), time_column="ts", freq="1D")
    assert [c.key for c in result.chunks] == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
        "2026-01-04",
        "2026-01-05",
    ]
    assert [c.rows for c in result.chunks] == [144, 144, 144, 144, 24]
    assert all(c.realized is None for c in result.chunks)


# -- the command line -----------------------------------------------------------------------------
def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["estimate", *args])
    return result.exit_code, result.output


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    frame = _calibrated(4000, 3, seed=20)
    paths = {"ref": tmp_path / "ref.csv", "ana": tmp_path / "ana.parquet"}
    frame.iloc[:2000].to_csv(paths["ref"], index=False)
    frame.iloc[2000:].to_parquet(paths["ana"])
    return paths


def test_cli_json_has_the_documented_shape(files: dict[str, Path]) -> None:
    code, out = run(
        str(files["ref"]),
        str(files["ana"]),
        "--label",
        "label",
        "--prediction",
        "prediction",
        "--chunk-size",
        "500",
        "--json",
    )
    assert code == 0, out
    data = json.loads(out)
    assert len(data["chunks"]) == 4 and [c["start"] for c in data["chunks"]] == [0, 500, 1000, 1500]
    for chunk in data["chunks"]:
        assert {"rows", "estimated", "lower", "upper", "realized"} <= set(chunk) and chunk["rows"] == 500
        assert set(chunk["estimated"]) == {"roc_auc", "accuracy", "f1", "precision", "recall"}
        assert all(
            chunk["lower"][m] <= chunk["estimated"][m] <= chunk["upper"][m] for m in chunk["estimated"]
        )
        assert set(chunk["realized"]) == set(chunk["estimated"])
    code, out = run(
        str(files["ref"]),
        str(files["ana"]),
        "--label",
        "label",
        "--prediction",
        "prediction",
        "--chunk-size",
        "1000",
        "--metrics",
        "accuracy,f1",
    )
    assert code == 0 and "accuracy" in out.lower() and "realized" in out and "roc_auc" not in out.lower(), out


def _write(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


@pytest.mark.parametrize(
    ("change", "side", "needle"),
    [
        (lambda f: f.drop(columns="proba_2"), "ana", "no column 'proba_2'"),
        (lambda f: f.drop(columns="label"), "ref", "no column 'label'"),
        (
            lambda f: f.assign(label=np.where(np.arange(len(f)) == 5, np.nan, f["label"])),
            "ref",
            "without a label",
        ),
        (lambda f: f.assign(proba_0=f["proba_0"] + 1.5), "ana", "outside [0, 1]"),
        (lambda f: f.assign(proba_0=f["proba_0"] * 0.9), "ana", "do not sum to 1"),
        (lambda f: f.iloc[:300], "ana", "fewer than one chunk"),
    ],
    ids=[
        "analysis-without-proba",
        "reference-without-labels",
        "reference-missing-label",
        "outside-0-1",
        "not-summing",
        "short",
    ],
)
def test_cli_bad_input_is_one_sentence_and_exit_2(tmp_path: Path, change, side: str, needle: str) -> None:  # type: ignore[no-untyped-def]
    frame = _calibrated(1000, 3, seed=30)
    ref, ana = frame.iloc[:600].reset_index(drop=True), frame.iloc[600:].reset_index(drop=True)
    if side == "ref":
        ref = change(ref)
    else:
        ana = change(ana)
    code, out = run(
        _write(ref, tmp_path / "r.csv"),
        _write(ana, tmp_path / "a.csv"),
        "--label",
        "label",
        "--prediction",
        "prediction",
        "--chunk-size",
        "350",
    )
    assert code == 2 and needle in out and len(out.strip().splitlines()) == 1, out


def test_cli_chunking_options_are_checked(files: dict[str, Path]) -> None:
    base = [str(files["ref"]), str(files["ana"]), "--label", "label", "--prediction", "prediction"]
    assert run(*base)[0] == 2
    assert run(*base, "--chunk-size", "10", "--time-column", "ts", "--freq", "1D")[0] == 2
    assert run(*base, "--time-column", "ts")[0] == 2
    code, out = run(*base, "--time-column", "ts", "--freq", "1D", "--json")
    chunks = json.loads(out)["chunks"]  # rows 2000-3999, 10 minutes apart, from 2026-01-14 21:20
    assert code == 0 and [c["rows"] for c in chunks] == [16, *[144] * 13, 112], out
    code, out = run(*base, "--chunk-size", "100", "--metrics", "auc")
    assert code == 2 and "unknown metric 'auc'" in out


def test_estimator_refuses_a_single_probability_column() -> None:
    frame = pd.DataFrame({"proba_1": [0.2, 0.7], "label": [0, 1], "prediction": [0, 1]})
    with pytest.raises(InvalidInput, match="at least two classes"):
        CBPE(label="label", prediction="prediction").fit(frame)
