"""Register a dataset, run a monitor's window, draw its report: on the local disk and on an object
store (fsspec's in-memory file system stands in for ``s3://``), with the reference as ``.pq``.

The registry accepts ``.pq`` Parquet; the runner used to read such a reference with ``read_csv``
(a UnicodeDecodeError), so every scheduled monitor on it failed. The format now comes from the
dataset version's record.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest

from governance.cli import scenario
from governance.dataset import service as dataset_service
from governance.dataset.files import inspect_file
from governance.db import Database
from governance.mlmodel import service as model_service
from governance.monitoring import service as monitoring
from governance.monitoring.models import MonitorRun
from governance.production import service as production
from governance.promotion import promote
from governance.settings import Settings
from governance.storage import Storage
from monitors import (
    checks,  # noqa: F401  (installs the adapters)
    scheduler,
)
from monitors.reports import RunReports, collect_garbage

FEATURES = ["f0", "f1", "f2"]
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


@pytest.fixture(params=["local", "memory"])
def storage_root(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path | str]:
    if request.param == "local":
        yield tmp_path / "storage"
        return
    root = f"memory://govern-{uuid.uuid4().hex}"
    yield root
    fs = fsspec.filesystem("memory")
    if fs.exists(root):
        fs.rm(root, recursive=True)


def _frame(rows: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f: rng.normal(shift, 1.0, rows) for f in FEATURES})
    frame["y"] = (frame["f0"] > shift).astype(int)
    return frame


def _deploy_on_pq(db: Database, settings: Settings, folder: Path) -> int:
    """Dataset ``ref@1`` from a ``.pq`` file, model ``m@1`` with it as reference, in production, one
    hour of predictions stored; returns the id of a data-drift monitor on ``m``."""
    storage = Storage(settings.storage_root)
    reference = folder / "reference.pq"
    _frame(400, 0.0, 1).to_parquet(reference)
    artifact = folder / "m.pt"
    artifact.write_bytes(b"model bytes: the data-drift check never loads them")
    batch = _frame(120, 1.5, 2).drop(columns="y")
    batch.insert(0, "request_id", [f"r{i}" for i in range(len(batch))])
    batch.insert(1, "timestamp", [START + timedelta(seconds=20 * i) for i in range(len(batch))])
    batch["prediction"] = (batch["f0"] > 0).astype(int)
    batch_path = folder / "batch.parquet"
    batch.to_parquet(batch_path)
    owner = scenario.demo_principal(db, settings)
    with db.transaction() as s:
        dv = dataset_service.register(
            s,
            storage=storage,
            file=inspect_file(reference),
            name="ref",
            version="1",
            license_expression="CC0-1.0",
            label_column="y",
            actor="t",
        ).version
        assert dv.format == "parquet" and dv.location.endswith(".pq")
        mv = model_service.register(
            s,
            storage=storage,
            artifact=model_service.inspect_artifact(artifact),
            name="m",
            version="1",
            intended_use="commercial",
            risk_tier="low",
            actor="t",
            datasets=[("ref@1", "reference")],
        ).version
        promote(s, mv=mv, stage="production", principal=owner, reason="test")
        production.ingest(s, storage=storage, mv=mv, path=batch_path, kind="predictions", actor="t")
        model = model_service.get_model(s, name="m")
        return monitoring.create(
            s,
            name="drift",
            model=model,
            kind="data_drift",
            schedule="every 1h",
            window="1h",
            start_at=START,
            actor="t",
            params={"report": True},
            catchup="all",
        ).id


def test_a_monitor_on_a_pq_dataset_runs_and_reports_on_every_storage(
    db: Database, database_url: str, tmp_path: Path, storage_root: Path | str
) -> None:
    settings = Settings(database_url=database_url, storage_root=storage_root, actor="t")
    assert settings.storage_root == storage_root  # a local folder stays a Path, a URL its text
    monitor_id = _deploy_on_pq(db, settings, tmp_path)

    reports = scheduler.tick(db, actor="t", storage_root=settings.storage_root, worker="t")
    (first, *rest) = [r for r in reports if r.window.start == START]
    assert not rest and first.status == "breach", first  # shifted by 1.5 sd: drift, and no error
    assert "drift" in first.summary

    storage = Storage(settings.storage_root)
    with db.transaction() as s:
        run = s.get(MonitorRun, first.run_id)
        assert run is not None and run.monitor_id == monitor_id
        dv_sha = model_service.get_by_ref(s, "m@1").datasets[0].dataset_version.sha256
        stored = [
            model_service.get_by_ref(s, "m@1").artifact_location,
            model_service.get_by_ref(s, "m@1").datasets[0].dataset_version.location,
            *(b.location for b in production.list_batches(s, mv=model_service.get_by_ref(s, "m@1"))),
        ]
    profile = storage.location("profiles", f"{dv_sha}.npz")
    for location in [*stored, profile]:
        assert storage.contains(location) and storage.exists(location), location
    if isinstance(storage_root, str):  # nothing of it on this machine's disk
        assert all(loc.startswith(storage_root + "/") for loc in [*stored, profile])
        assert not (tmp_path / "storage").exists() and not Path("govern-storage").exists()

    drawer = RunReports(db, settings.storage_root, "30d")
    html = drawer.html(first.run_id).decode()
    assert "<html" in html.lower() and "f0" in html
    cached = drawer.path_for(first.run_id)
    assert storage.contains(cached) and storage.modified(cached) is not None

    kept = collect_garbage(db, settings.storage_root, retention="30d")
    assert kept["removed"] == [] and kept["kept_fresh"] == 1
    time.sleep(1.1)
    gone = collect_garbage(db, settings.storage_root, retention="1s")
    assert gone["removed"] == [cached] and not storage.exists(cached)


def test_the_drift_and_quality_readers_take_a_storage_url(storage_root: Path | str) -> None:
    """A location on an object store is read there, not turned into a local path (``memory:/x``)."""
    from monitors.drift.io import profile_path, read_frame
    from monitors.quality_io import file_report

    frame = _frame(50, 0.0, seed=3)
    folder = f"{storage_root}/rows"
    fs, base = fsspec.core.url_to_fs(folder)
    fs.makedirs(base, exist_ok=True)
    location = f"{folder}/rows.csv"
    with fs.open(f"{base}/rows.csv", "wb") as out:
        out.write(frame.to_csv(index=False).encode())
    pd.testing.assert_frame_equal(read_frame(location), frame)
    assert profile_path(location).rows == 50
    report = file_report(location, label="y")
    assert report is not None and report["metrics"]["rows"] == 50
