"""Production data in: batches validated against the model's schema, stored, indexed, windowed."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from governance.db import Database
from governance.mlmodel import service as model_service
from governance.production import service as production


@pytest.fixture
def deployed(govern: Any, breast_cancer_csv: Path, torchscript_models: list[Path]) -> str:
    govern(
        "dataset",
        "register",
        str(breast_cancer_csv),
        "--name",
        "bc",
        "--version",
        "1",
        "--license",
        "CC-BY-4.0",
        "--label",
        "target",
    )
    govern(
        "model",
        "register",
        str(torchscript_models[0]),
        "--name",
        "screen",
        "--version",
        "1",
        "--reference-data",
        "bc@1",
        "--intended-use",
        "internal",
    )
    return "screen@1"


def _predictions(
    breast_cancer_csv: Path, model_path: Path, start: datetime, n: int, offset: int = 0
) -> pd.DataFrame:
    frame = pd.read_csv(breast_cancer_csv).iloc[offset : offset + n].reset_index(drop=True)
    features = frame.drop(columns="target")
    model = torch.jit.load(str(model_path))
    x = torch.tensor(features.to_numpy(np.float32))
    x = (x - x.mean(0)) / (x.std(0) + 1e-6)
    with torch.no_grad():
        proba = torch.softmax(model(x), 1).numpy()
    out = features.copy()
    out.insert(0, "timestamp", [start + timedelta(minutes=i) for i in range(n)])
    out.insert(0, "request_id", [f"r{offset + i}" for i in range(n)])
    out["prediction"] = proba.argmax(1)
    out["proba_0"], out["proba_1"] = proba[:, 0], proba[:, 1]
    out["latency_ms"] = np.linspace(5, 50, n)
    out["error"] = False
    return out


def test_ingest_labels_and_windows(
    govern: Any,
    deployed: str,
    database_url: str,
    tmp_path: Path,
    breast_cancer_csv: Path,
    torchscript_models: list[Path],
) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    first = tmp_path / "day1.parquet"
    _predictions(breast_cancer_csv, torchscript_models[0], t0, 100).to_parquet(first)
    second = tmp_path / "day2.csv"
    _predictions(breast_cancer_csv, torchscript_models[0], t0 + timedelta(days=1), 100, offset=100).to_csv(
        second, index=False
    )
    b1 = json.loads(govern("ingest", deployed, str(first), "--json").stdout)
    assert b1["created"] and b1["rows"] == 100 and b1["time_min"].startswith("2026-11-01T00:00")
    assert Path(b1["location"]).exists()
    again = json.loads(govern("ingest", deployed, str(first), "--json").stdout)
    assert again["created"] is False and again["id"] == b1["id"]
    govern("ingest", deployed, str(second))
    labels = tmp_path / "labels.csv"
    truth = pd.read_csv(breast_cancer_csv)["target"]
    pd.DataFrame({"request_id": [f"r{i}" for i in range(0, 150)], "label": truth.iloc[:150]}).to_csv(
        labels, index=False
    )
    govern("labels", deployed, str(labels))
    assert len(json.loads(govern("batches", deployed, "--json").stdout)) == 3

    db = Database(database_url)
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, deployed)
        window = production.read_window(
            s, mv=mv, start=t0 + timedelta(minutes=50), end=t0 + timedelta(days=1, minutes=10)
        )
    db.dispose()
    assert list(window["request_id"]) == [f"r{i}" for i in range(50, 110)]
    assert window["label"].notna().sum() == 60  # r50..r109 all labelled (labels cover r0..r149)
    assert (window["label"].astype(int).to_numpy() == truth.iloc[50:110].to_numpy()).all()
    assert str(window["timestamp"].dt.tz) == "UTC"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda f: f.drop(columns=["mean radius", "worst area"]),
            "missing column(s) mean radius, worst area",
        ),
        (
            lambda f: f.assign(surprise=1, other=2),
            "column(s) surprise, other that are not in screen@1's schema",
        ),
        (lambda f: f.drop(columns=["request_id"]), "missing column(s) request_id"),
        (lambda f: f.assign(timestamp="not a time"), "column timestamp"),
        (lambda f: f.assign(request_id="same"), "repeats 'same'"),
        (
            lambda f: f.assign(request_id=[f"{'x' * 513}{i}" for i in range(len(f))]),
            "request_id of batch.csv has a value over 512 characters",
        ),
        (lambda f: f.assign(**{"mean radius": "big"}), "column mean radius of batch.csv must be numeric"),
        (lambda f: f.iloc[0:0], "holds no records"),
    ],
    ids=[
        "missing-features",
        "extra-columns",
        "no-request-id",
        "bad-time",
        "duplicate-ids",
        "overlong-ids",
        "wrong-type",
        "empty",
    ],
)
def test_bad_batches_are_refused_and_nothing_is_stored(
    govern: Any,
    deployed: str,
    tmp_path: Path,
    breast_cancer_csv: Path,
    torchscript_models: list[Path],
    mutate: Any,
    message: str,
) -> None:
    frame = mutate(
        _predictions(breast_cancer_csv, torchscript_models[0], datetime(2026, 1, 1, tzinfo=UTC), 20)
    )
    path = tmp_path / "batch.csv"
    frame.to_csv(path, index=False)
    result = govern("ingest", deployed, str(path), expect=2)
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert json.loads(govern("batches", deployed, "--json").stdout) == []
    assert not (tmp_path / "storage" / "batches").exists()


def test_unknown_model_and_missing_file(govern: Any, deployed: str, tmp_path: Path) -> None:
    assert "not registered" in govern("ingest", "ghost@1", str(tmp_path / "x.csv"), expect=2).stderr
    assert "does not exist" in govern("ingest", deployed, str(tmp_path / "x.csv"), expect=2).stderr
    bad_labels = tmp_path / "labels.csv"
    bad_labels.write_text("request_id,truth\nr1,1\n")
    assert "missing column(s) label" in govern("labels", deployed, str(bad_labels), expect=2).stderr


def test_times_read_the_same_by_arrow_and_by_pandas() -> None:
    """The fast path (Arrow, times with a zone offset) gives what pandas gives; times without an
    offset are read as UTC by pandas; a bad value is one sentence naming the row."""
    import pyarrow as pa

    from governance.errors import InvalidInput

    with_offset = ["2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00.123456Z", "2026-03-01 07:59:59-01:00"]
    naive = ["2026-03-01T08:00:00", "2026-03-01", "2026-03-01T10:00:00.123456789+00:00"]
    for values in (with_offset, naive):
        table = pa.table({"timestamp": values})
        fast = production.utc_times(table, "timestamp", Path("x.csv")).column("timestamp").to_pylist()
        expected = pd.to_datetime(pd.Series(values), utc=True, format="ISO8601").dt.floor("us").tolist()
        assert fast == [t.to_pydatetime() for t in expected]
    converted = production.utc_times(pa.table({"timestamp": with_offset}), "timestamp", Path("x.csv"))
    assert production.utc_times(converted, "timestamp", Path("x.csv")) is converted
    with pytest.raises(InvalidInput, match=r"row 1: 'soon'"):
        production.utc_times(pa.table({"timestamp": [with_offset[0], "soon"]}), "timestamp", Path("x.csv"))
    with pytest.raises(InvalidInput, match="repeats 'b'"):
        production.check_unique_ids(pa.table({"request_id": ["a", "b", "c", "b"]}), Path("x.csv"))
