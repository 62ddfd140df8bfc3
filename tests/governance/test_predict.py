"""Production data sent by model name, and batch scoring with ``govern predict``.

Real trained platform models (a softmax and a single-logit classifier), registered with their
reference data and promoted through the CLI; the stage history's real promotion instants are the
boundaries records are routed by.
"""

from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import Result
from fastapi.testclient import TestClient

from governance.db import Database
from governance.mlmodel import service as model_service
from governance.production import service as production
from tests.trainer.factories import blobs_frame
from trainer.architectures import MLPConfig, build_module
from trainer.modelio import load_model, save_platform_model

FEATURES = ["a", "b", "c", "d"]
Govern = Callable[..., Result]


def _train(frame: pd.DataFrame, path: Path, *, seed: int, single_logit: bool) -> Path:
    """A small MLP really trained on the blobs (standardising its raw inputs itself)."""
    torch.manual_seed(seed)
    config = MLPConfig(n_features=4, n_outputs=1 if single_logit else 2, hidden=(8,), standardize=True)
    module = build_module(config)
    x = torch.tensor(frame[FEATURES].to_numpy(np.float32))
    y = torch.tensor((frame["label"] == "yes").to_numpy().astype(np.int64))
    module.set_standardization(x.mean(0), x.std(0))
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(60):
        optimizer.zero_grad()
        logits = module(x)
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(logits[:, 0], y.float())
            if single_logit
            else torch.nn.functional.cross_entropy(logits, y)
        )
        loss.backward()
        optimizer.step()
    save_platform_model(
        module.eval(), config, path, metadata={"feature_names": FEATURES, "classes": ["no", "yes"]}
    )
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("predict")
    frame = blobs_frame(300, seed=0)
    frame.to_csv(folder / "blobs.csv", index=False)
    return {
        "data": folder / "blobs.csv",
        "softmax": _train(frame, folder / "softmax.zip", seed=1, single_logit=False),
        "logit": _train(frame, folder / "logit.zip", seed=2, single_logit=True),
    }


def _json(result: Result) -> Any:
    return json.loads(result.stdout)


@pytest.fixture
def fraud(govern: Govern, trained: dict[str, Path]) -> Govern:
    """Model ``fraud`` with two registered versions (neither in production yet)."""
    govern(
        "dataset", "register", str(trained["data"]), "--name", "blobs", "--version", "1",
        "--license", "CC-BY-4.0", "--label", "label",
    )  # fmt: skip
    for version, key in (("1", "softmax"), ("2", "logit")):
        govern(
            "model", "register", str(trained[key]), "--name", "fraud", "--version", version,
            "--reference-data", "blobs@1", "--intended-use", "internal", "--no-capture-deps", "--no-explain",
        )  # fmt: skip
    return govern


_EDITOR_KEYS: weakref.WeakKeyDictionary[Govern, str] = weakref.WeakKeyDictionary()


def _editor_key(govern: Govern) -> str:
    """An editor's API key in this test's database (production promotions need a verified user)."""
    if govern not in _EDITOR_KEYS:
        govern("user", "add", "ed", "--role", "editor")
        _EDITOR_KEYS[govern] = _json(govern("key", "create", "ed", "--json"))["key"]
    return _EDITOR_KEYS[govern]


def _promote(govern: Govern, ref: str, stage: str = "production") -> datetime:
    """Move ``ref`` to ``stage`` through the CLI; the instant the stage history recorded."""
    govern("promote", ref, "--stage", stage, env_extra={"GOVERN_API_KEY": _editor_key(govern)})
    return datetime.fromisoformat(
        _json(govern("model", "history", "fraud", "--json"))["transitions"][-1]["at"]
    )


def _records(times: list[datetime], prefix: str = "r") -> pd.DataFrame:
    """Inference records as a serving system logs them."""
    frame = blobs_frame(len(times), seed=5)
    records = frame[FEATURES].copy()
    records.insert(0, "request_id", [f"{prefix}{i}" for i in range(len(times))])
    records.insert(1, "timestamp", pd.to_datetime(times, utc=True))
    records["prediction"] = frame["label"]
    return records


def _version(database_url: str, ref: str, start: datetime, end: datetime) -> pd.DataFrame:
    db = Database(database_url)
    try:
        with db.transaction() as session:
            mv = model_service.get_by_ref(session, ref)
            return production.read_window(session, mv=mv, start=start, end=end)
    finally:
        db.dispose()


def test_records_sent_by_name_follow_the_stage_history(
    fraud: Govern, tmp_path: Path, database_url: str
) -> None:
    t1 = _promote(fraud, "fraud@1")
    time.sleep(0.01)
    t2 = _promote(fraud, "fraud@2")
    us = timedelta(microseconds=1)
    times = [t1, t1 + (t2 - t1) / 2, t2 - us, t2, t2 + us, t2 + timedelta(days=3)]
    path = tmp_path / "records.csv"
    _records(times).to_csv(path, index=False)

    sent = _json(fraud("ingest", "fraud", str(path), "--json"))
    assert (
        sent["model"] == "fraud" and sent["kind"] == "predictions" and sent["rows"] == 6 and sent["created"]
    )
    routed = {
        b["model"]: sorted(pq.read_table(b["location"]).column("request_id").to_pylist())
        for b in sent["batches"]
    }
    assert routed == {"fraud@1": ["r0", "r1", "r2"], "fraud@2": ["r3", "r4", "r5"]}
    by_version = {b["model"]: b for b in sent["batches"]}
    assert datetime.fromisoformat(by_version["fraud@1"]["time_max"]) == t2 - us
    assert datetime.fromisoformat(by_version["fraud@2"]["time_min"]) == t2

    again = _json(fraud("ingest", "fraud", str(path), "--json"))
    assert again["created"] is False
    assert sorted(b["id"] for b in again["batches"]) == sorted(b["id"] for b in sent["batches"])
    assert len(_json(fraud("batches", "fraud", "--json"))) == 2

    # Late labels sent by name: matched by request_id over both versions.
    labels = tmp_path / "labels.csv"
    pd.DataFrame({"request_id": ["r0", "r4", "r5"], "label": ["no", "yes", "yes"]}).to_csv(
        labels, index=False
    )
    stored = _json(fraud("labels", "fraud", str(labels), "--json"))
    assert {b["model"]: b["rows"] for b in stored["batches"]} == {"fraud@1": 1, "fraud@2": 2}
    span = (t1 - timedelta(days=1), t2 + timedelta(days=10))
    first, second = _version(database_url, "fraud@1", *span), _version(database_url, "fraud@2", *span)
    assert list(first["request_id"]) == ["r0", "r1", "r2"] and list(second["request_id"]) == [
        "r3",
        "r4",
        "r5",
    ]
    assert first["label"].tolist()[0] == "no" and first["label"].isna().tolist() == [False, True, True]
    assert second["label"].tolist()[1:] == ["yes", "yes"] and pd.isna(second["label"].iloc[0])

    # A label for a request no version served is refused, with the whole file.
    stray = tmp_path / "stray.csv"
    pd.DataFrame({"request_id": ["r1", "ghost", "r3"], "label": ["no", "no", "yes"]}).to_csv(
        stray, index=False
    )
    refused = fraud("labels", "fraud", str(stray), expect=2)
    assert refused.stderr.strip() == (
        "error: 1 of 3 labels in stray.csv match no inference record of fraud (first: request_id 'ghost');"
        " nothing was stored"
    )
    assert len(_json(fraud("batches", "fraud", "--json"))) == 4

    # NAME@VERSION still stores exactly where it is told.
    pinned = tmp_path / "pinned.csv"
    _records([t1 - timedelta(days=30)], prefix="p").to_csv(pinned, index=False)
    assert _json(fraud("ingest", "fraud@2", str(pinned), "--json"))["model"] == "fraud@2"


def test_records_from_before_any_production_version_are_refused(fraud: Govern, tmp_path: Path) -> None:
    early = tmp_path / "early.csv"
    t0 = datetime.fromisoformat("2026-01-01T00:00:00+00:00")
    _records([t0 + timedelta(hours=1), t0]).to_csv(early, index=False)
    refused = fraud("ingest", "fraud", str(early), expect=2)
    assert refused.stderr.strip() == (
        "error: 2 of 2 records in early.csv are from before any version of fraud was in production"
        " (first at 2026-01-01T00:00:00+00:00); nothing was stored"
    )

    t1 = _promote(fraud, "fraud@1")
    mixed = tmp_path / "mixed.parquet"
    _records([t1 + timedelta(seconds=1), t1 - timedelta(hours=1), t1 - timedelta(hours=2), t1]).to_parquet(
        mixed
    )
    refused = fraud("ingest", "fraud", str(mixed), expect=2)
    assert refused.stderr.strip() == (
        "error: 2 of 4 records in mixed.parquet are from before any version of fraud was in production"
        f" (first at {(t1 - timedelta(hours=2)).isoformat()}); nothing was stored"
    )

    # Production ended without a successor: records from then have no version either.
    time.sleep(0.01)
    t_end = _promote(fraud, "fraud@1", "archived")
    late = tmp_path / "late.csv"
    _records([t1 + (t_end - t1) / 2, t_end + timedelta(seconds=1)]).to_csv(late, index=False)
    refused = fraud("ingest", "fraud", str(late), expect=2)
    assert (
        "1 of 2 records in late.csv are from times when no version of fraud was in production"
        in refused.stderr
    )
    assert len(refused.stderr.strip().splitlines()) == 1
    assert _json(fraud("batches", "fraud", "--json")) == []
    assert (
        fraud("ingest", "nobody", str(late), expect=2).stderr.strip()
        == "error: model 'nobody' is not registered"
    )


def _scoring_input(n: int, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    frame = blobs_frame(n, seed=seed)
    labels = frame.pop("label")
    frame.insert(0, "request_id", [f"q{i}" for i in range(n)])
    frame.insert(1, "timestamp", pd.date_range("2026-11-02", periods=n, freq="min", tz="UTC"))
    frame["note"] = "kept"
    return frame, labels


def test_predict_writes_the_scores_and_logs_them(
    fraud: Govern, tmp_path: Path, trained: dict[str, Path]
) -> None:
    batch, truth = _scoring_input(50, seed=9)
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False)
    out = tmp_path / "scored.parquet"

    result = _json(fraud("predict", "fraud@1", str(path), "-o", str(out), "--json"))
    assert result["model"] == "fraud@1" and result["rows"] == 50 and result["logged"] is False
    assert result["classes"] == ["no", "yes"]
    scored = pd.read_parquet(out)
    assert list(scored.columns) == [*batch.columns, "prediction", "proba_no", "proba_yes"]
    assert scored["request_id"].tolist() == batch["request_id"].tolist() and (scored["note"] == "kept").all()
    proba = scored[["proba_no", "proba_yes"]].to_numpy()
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-9)
    assert (scored["prediction"].to_numpy() == np.array(["no", "yes"])[proba.argmax(axis=1)]).all()
    # The registered model's own outputs, computed apart from the command.
    module = load_model(trained["softmax"], device="cpu").module
    with torch.no_grad():
        expected = torch.softmax(module(torch.tensor(batch[FEATURES].to_numpy(np.float32))), 1).numpy()
    assert np.allclose(proba, expected, atol=1e-5)
    assert (scored["prediction"] == truth).mean() > 0.7  # a really trained model on its own kind of data
    assert _json(fraud("batches", "fraud@1", "--json")) == []  # without --log nothing is stored

    logged = _json(fraud("predict", "fraud@1", str(path), "-o", str(out), "--log", "--json"))
    assert logged["logged"] and logged["batch"]["created"] and logged["batch"]["rows"] == 50
    batches = _json(fraud("batches", "fraud@1", "--json"))
    assert [b["id"] for b in batches] == [logged["batch"]["id"]]
    assert batches[0]["time_min"].startswith("2026-11-02T00:00") and batches[0]["kind"] == "predictions"
    stored = pq.read_table(batches[0]["location"]).to_pandas()
    assert list(stored.columns) == [
        "request_id", "timestamp", *FEATURES, "prediction", "proba_no", "proba_yes", "latency_ms",
    ]  # fmt: skip
    assert stored["prediction"].tolist() == scored["prediction"].tolist()
    assert (stored["latency_ms"] > 0).all() and stored["latency_ms"].nunique() == 1  # one batch, timed once
    again = _json(fraud("predict", "fraud@1", str(path), "-o", str(out), "--log", "--json"))
    assert again["batch"]["created"] is False and again["batch"]["id"] == logged["batch"]["id"]
    assert len(_json(fraud("batches", "fraud@1", "--json"))) == 1


def test_predict_by_name_scores_with_the_production_version(
    fraud: Govern, tmp_path: Path, trained: dict[str, Path], database_url: str
) -> None:
    _promote(fraud, "fraud@1")
    _promote(fraud, "fraud@2")  # the single-logit model
    plain = blobs_frame(40, seed=3)
    truth = plain.pop("label")
    path = tmp_path / "plain.parquet"
    plain.to_parquet(path)

    result = _json(fraud("predict", "fraud", str(path), "--log", "--json"))
    assert result["model"] == "fraud@2" and result["output"] == str(tmp_path / "plain.predictions.parquet")
    scored = pd.read_parquet(tmp_path / "plain.predictions.parquet")
    # Logged rows need ids to be labelled later: generated, and written to the output too.
    assert scored.columns[:2].tolist() == ["request_id", "timestamp"] and scored["request_id"].is_unique
    module = load_model(trained["logit"], device="cpu").module
    with torch.no_grad():
        positive = torch.sigmoid(module(torch.tensor(plain.to_numpy(np.float32)))[:, 0]).double().numpy()
    assert np.allclose(scored["proba_yes"], positive, atol=1e-6)
    assert np.allclose(scored["proba_no"] + scored["proba_yes"], 1.0, atol=1e-9)
    assert (scored["prediction"] == np.where(positive > 0.5, "yes", "no")).all()
    assert (scored["prediction"] == truth).mean() > 0.7

    labels = tmp_path / "truth.csv"
    pd.DataFrame({"request_id": scored["request_id"], "label": truth}).to_csv(labels, index=False)
    stored = _json(fraud("labels", "fraud", str(labels), "--json"))
    assert [(b["model"], b["rows"]) for b in stored["batches"]] == [("fraud@2", 40)]
    when = pd.Timestamp(scored["timestamp"].iloc[0]).to_pydatetime()
    window = _version(database_url, "fraud@2", when - timedelta(seconds=1), when + timedelta(seconds=1))
    assert len(window) == 40 and (window["label"] == window["prediction"]).mean() > 0.7


def test_predict_refuses_bad_input_and_writes_nothing(
    fraud: Govern, tmp_path: Path, trained: dict[str, Path]
) -> None:
    batch, _ = _scoring_input(10, seed=4)
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False)
    out = tmp_path / "out.csv"

    def refused(*args: str) -> str:
        result = fraud("predict", *args, expect=2)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert not out.exists() and _json(fraud("batches", "fraud", "--json")) == []
        return lines[0].removeprefix("error: ")

    assert refused("fraud", str(path), "-o", str(out), "--log") == (
        "model fraud has no version in production; name one as fraud@VERSION"
    )
    short = tmp_path / "short.csv"
    batch.drop(columns=["c", "d"]).to_csv(short, index=False)
    assert refused("fraud@1", str(short), "-o", str(out), "--log") == (
        "short.csv is missing column(s) c, d that fraud@1 needs"
    )
    text = tmp_path / "text.csv"
    batch.assign(b="=cmd|' /C calc'!A0").to_csv(text, index=False)
    assert (
        refused("fraud@1", str(text), "-o", str(out))
        == "column b of text.csv must be numeric, as fraud@1 takes it"
    )
    holes = tmp_path / "holes.csv"
    batch.assign(a=[1.0, None, *range(8)]).to_csv(holes, index=False)
    assert (
        refused("fraud@1", str(holes), "-o", str(out)) == "column a of holes.csv has an empty value (row 1)"
    )
    dupes = tmp_path / "dupes.csv"
    batch.assign(request_id="same").to_csv(dupes, index=False)
    assert (
        refused("fraud@1", str(dupes), "-o", str(out), "--log")
        == "column request_id of dupes.csv repeats 'same'"
    )
    assert (
        refused("fraud@1", str(path), "-o", str(path))
        == f"output {path} is the input file; name another with -o"
    )
    assert refused("fraud@1", str(path), "-o", str(tmp_path / "out.json")).startswith("output ")
    assert refused("fraud@9", str(path), "-o", str(out)) == "model fraud@9 is not registered"
    assert refused("fraud@1", str(tmp_path / "none.csv"), "-o", str(out)).startswith("file ")


def test_predict_refuses_a_swapped_model_file_without_running_it(fraud: Govern, tmp_path: Path) -> None:
    """The attack: the stored artifact replaced by a pickle that runs code when loaded."""
    from tests.hostile_models import marker_pickle

    marker = tmp_path / "pwned"
    artifact = Path(_json(fraud("model", "show", "fraud@1", "--json"))["artifact_location"])
    artifact.write_bytes(marker_pickle(marker))
    batch, _ = _scoring_input(5, seed=2)
    path = tmp_path / "batch.csv"
    batch.to_csv(path, index=False)
    result = fraud("predict", "fraud@1", str(path), "-o", str(tmp_path / "out.csv"), "--log", expect=2)
    assert "the registry recorded" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not marker.exists() and not (tmp_path / "out.csv").exists()
    assert _json(fraud("batches", "fraud@1", "--json")) == []


def test_api_routes_records_and_labels_sent_by_name(
    fraud: Govern, db: Database, tmp_path: Path, database_url: str
) -> None:
    from dashboards.api.app import create_app
    from governance.auth import service as auth_service
    from governance.settings import Settings

    with db.transaction() as session:
        editor = auth_service.create_user(session, name="uploader", role="editor", actor="setup")
        key = auth_service.create_key(session, user=editor, actor="setup").plaintext
        viewer = auth_service.create_user(session, name="reader", role="viewer", actor="setup")
        read_key = auth_service.create_key(session, user=viewer, actor="setup").plaintext
    headers = {"Authorization": f"Bearer {key}"}
    settings = Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="tester")
    t1 = _promote(fraud, "fraud@1")
    time.sleep(0.01)
    t2 = _promote(fraud, "fraud@2")
    records = _records([t1 - timedelta(days=1), t1 + (t2 - t1) / 2, t2 + timedelta(hours=1)])
    with TestClient(create_app(settings, db=db)) as client:

        def post(kind: str, body: bytes, name: str, key_headers: dict[str, str] = headers) -> Any:
            return client.post(
                f"/api/v1/models/fraud/{kind}", params={"filename": name}, content=body, headers=key_headers
            )

        early = post("predictions", records.to_csv(index=False).encode(), "early.csv")
        assert early.status_code == 422
        assert early.json()["error"]["message"].startswith(
            "1 of 3 records in early.csv are from before any version"
        )
        body = records.iloc[1:].to_csv(index=False).encode()
        assert post("predictions", body, "r.csv", {"Authorization": f"Bearer {read_key}"}).status_code == 403
        sent = post("predictions", body, "r.csv")
        assert sent.status_code == 201, sent.text
        assert {b["model"]: b["rows"] for b in sent.json()["batches"]} == {"fraud@1": 1, "fraud@2": 1}
        assert post("predictions", body, "r.csv").status_code == 200  # the same file again: nothing new
        labels = post("labels", b"request_id,label\nr1,no\nr2,yes\n", "l.csv")
        assert labels.status_code == 201, labels.text
        assert sorted(b["model"] for b in labels.json()["batches"]) == ["fraud@1", "fraud@2"]
        ghost = post("labels", b"request_id,label\nnobody,no\n", "g.csv")
        assert (
            ghost.status_code == 422
            and "match no inference record of fraud" in ghost.json()["error"]["message"]
        )
        pinned = client.get("/api/v1/models/fraud/1/batches", headers=headers).json()
        assert [b["kind"] for b in pinned["items"]] == ["predictions", "labels"]
