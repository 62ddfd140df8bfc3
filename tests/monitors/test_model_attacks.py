"""Issue 14, finding 1: an uploaded model must never run code, through any entry point.

Every hostile archive writes a marker file if anything deserialises or executes what it carries;
the tests assert the marker never appears, that the refusal is one sentence (exit 2 / HTTP 4xx)
and that nothing is written. Legitimate TorchScript, torch.export and platform archives still load.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from dashboards.api.app import create_app
from governance.auth import service as auth_service
from governance.cli import main
from governance.dataset import service as dataset_service
from governance.dataset.files import inspect_file
from governance.db import Database
from governance.errors import InvalidInput
from governance.mlmodel import service as model_service
from governance.mlmodel.archives import UnsafeArchive, inspect_archive
from governance.mlmodel.models import ModelVersion
from governance.monitoring import jobs as job_service
from governance.monitoring import service as monitoring
from governance.monitoring.models import MonitorRun, RetrainJob
from governance.production import service as production
from governance.settings import Settings
from governance.storage import LocalStorage
from tests import hostile_models as hostile
from trainer.architectures import MLPConfig, build_module
from trainer.modelio import load_model, save_platform_model

FEATURES = ["a", "b", "c", "d"]
REFUSED = "so it is refused"
HOSTILE = {
    "pickled constant": hostile.pickled_constant_pt2,
    "guard code": hostile.guard_code_pt2,
    "torch.os.system node": hostile.os_call_pt2,
}


@pytest.fixture(scope="module")
def legit(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Legitimate archives of one 4-feature classifier: torch.export (dynamic batch), TorchScript, platform."""
    root = tmp_path_factory.mktemp("legit")
    torch.manual_seed(0)
    config = MLPConfig(n_features=4, n_outputs=2, hidden=(8,))
    module = build_module(config).eval()
    batch = torch.export.Dim("batch", min=1)
    program = torch.export.export(module, (torch.randn(5, 4),), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(root / "model.pt2"))
    torch.jit.save(torch.jit.script(module), str(root / "model.ts"))
    save_platform_model(module, config, root / "model.zip")
    return {"export": root / "model.pt2", "torchscript": root / "model.ts", "platform": root / "model.zip"}


def _hostile(kind: str, legit: dict[str, Path], folder: Path) -> tuple[Path, Path]:
    marker = folder / f"marker-{kind.replace(' ', '-')}"
    return HOSTILE[kind](legit["export"], folder / "evil.pt2", marker), marker


# -- the loader -----------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_the_loader_refuses_hostile_export_archives_without_running_them(
    kind: str, legit: dict[str, Path], tmp_path: Path
) -> None:
    path, marker = _hostile(kind, legit, tmp_path)
    with pytest.raises(UnsafeArchive, match=REFUSED) as refused:
        load_model(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), device="cpu")
    assert "\n" not in str(refused.value)
    assert not marker.exists()


def test_pickled_sample_inputs_are_never_read(legit: dict[str, Path], tmp_path: Path) -> None:
    """torch.export.load falls back to a full unpickle of these; our loader never opens them."""
    marker = tmp_path / "marker"
    path = hostile.pickled_sample_inputs_pt2(legit["export"], tmp_path / "evil.pt2", marker)
    loaded = load_model(path, device="cpu")
    x = torch.randn(3, 4)
    assert torch.allclose(loaded.module(x), load_model(legit["export"], device="cpu").module(x))
    assert not marker.exists()


def test_pickles_and_unknown_members_are_refused(legit: dict[str, Path], tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    with pytest.raises(UnsafeArchive, match="is a pickle"):
        load_model(hostile.legacy_pickle(tmp_path / "model.pt", marker))

    def add_member(members: dict[str, bytes], root: str) -> None:
        members[f"{root}/data/aotinductor/model/evil.so"] = b"\x7fELF"

    extra = hostile.rewrite_zip(legit["export"], tmp_path / "extra.pt2", add_member)
    with pytest.raises(UnsafeArchive, match=r"'data/aotinductor/model/evil\.so' that is not understood"):
        load_model(extra)

    def rename(program: dict[str, Any]) -> None:
        program["graph_module"]["graph"]["nodes"][0]["name"] = "x = __import__('os')"

    with pytest.raises(UnsafeArchive, match="not an identifier"):
        load_model(hostile.program_edit_pt2(legit["export"], tmp_path / "named.pt2", rename))
    assert not marker.exists()


@pytest.mark.parametrize("kind", ["export", "torchscript", "platform"])
def test_legitimate_archives_still_load(kind: str, legit: dict[str, Path]) -> None:
    path = legit[kind]
    loaded = load_model(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest(), device="cpu")
    assert loaded.format == kind and inspect_archive(path.read_bytes(), label=path.name).format == kind
    x = torch.randn(7, 4)
    reference = load_model(legit["platform"], device="cpu").module(x)
    assert torch.allclose(loaded.module(x), reference, atol=1e-6)


# -- the command line -----------------------------------------------------------------------------
def _data_csv(folder: Path, rows: int = 30, extra_column: bool = False) -> Path:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(rows, 4)).astype(np.float32), columns=FEATURES)
    frame["label"] = (frame["a"] > 0).astype(int)
    if extra_column:
        frame["e"] = 1.0
    path = folder / "data.csv"
    frame.to_csv(path, index=False)
    return path


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stderr


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_govern_explain_and_robustness_never_run_a_hostile_model(
    kind: str, legit: dict[str, Path], tmp_path: Path
) -> None:
    path, marker = _hostile(kind, legit, tmp_path)
    data = _data_csv(tmp_path)
    for args in (
        ("explain", str(path), str(data), "--label", "label", "--device", "cpu"),
        ("robustness", str(path), str(data), "--label", "label", "--attacks", "fgsm", "--device", "cpu"),
    ):
        code, err = _invoke(*args)
        assert code == 2 and REFUSED in err and len(err.strip().splitlines()) == 1, err
    assert not marker.exists()


def test_a_shape_mismatch_is_one_sentence(legit: dict[str, Path], tmp_path: Path) -> None:
    """The issue's case: a TorchScript model on 4 features, data with a label it was not told about."""
    data = _data_csv(tmp_path)
    for kind in ("torchscript", "platform", "export"):
        code, err = _invoke("explain", str(legit[kind]), str(data), "--device", "cpu")
        assert code == 2, err
        assert (
            err.strip() == f"error: the model takes 4 inputs; {data} has 5 feature columns: pass --label."
        ), err
    wide = _data_csv(tmp_path, extra_column=True)
    code, err = _invoke(
        "robustness",
        str(legit["torchscript"]),
        str(wide),
        "--label",
        "label",
        "--attacks",
        "fgsm",
        "--device",
        "cpu",
    )
    assert code == 2 and err.strip() == f"error: the model takes 4 inputs; {wide} has 5 feature columns.", err


def test_bad_flags_are_one_sentence(legit: dict[str, Path], tmp_path: Path) -> None:
    data = _data_csv(tmp_path)
    model = str(legit["platform"])
    cases = [
        (("robustness", model, str(data), "--label", "label", "--max-samples", "0"), "--max-samples must be"),
        (
            ("robustness", model, str(data), "--label", "label", "--max-samples", "-3"),
            "--max-samples must be",
        ),
        (("robustness", model, str(data), "--label", "label", "--device", "tpu9"), "--device 'tpu9'"),
        (("explain", model, str(data), "--label", "label", "--device", "gpu"), "--device 'gpu'"),
        (("explain", model, str(data), "--label", "label", "--top", "0"), "--top must be positive"),
    ]
    if not torch.cuda.is_available():
        cases.append((("explain", model, str(data), "--label", "label", "--device", "cuda"), "not available"))
    for args, message in cases:
        code, err = _invoke(*args)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, (args, err)
    code, err = _invoke("explain", model, str(data), "--label", "label", "--device", "cpu", "--rows", "0")
    assert code == 0, err


# -- registration: CLI and API --------------------------------------------------------------------
def _nothing_registered(db: Database, storage: Path) -> None:
    with db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(ModelVersion)) == 0
    assert not any(p.is_file() for p in storage.rglob("*")) if storage.exists() else True


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_govern_model_register_refuses_a_hostile_archive(
    kind: str, legit: dict[str, Path], govern: Callable[..., Any], db: Database, tmp_path: Path
) -> None:
    path, marker = _hostile(kind, legit, tmp_path)
    args = ("model", "register", str(path), "--name", "evil", "--version", "1", "--intended-use", "internal")
    result = govern(*args, expect=2)
    assert REFUSED in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    _nothing_registered(db, tmp_path / "storage")
    govern(
        "model",
        "register",
        str(legit["export"]),
        "--name",
        "good",
        "--version",
        "1",
        "--intended-use",
        "internal",
    )
    assert not marker.exists()


def test_api_model_upload_refuses_a_hostile_archive(
    legit: dict[str, Path], db: Database, database_url: str, tmp_path: Path
) -> None:
    path, marker = _hostile("pickled constant", legit, tmp_path)
    settings = Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="tester")
    with db.transaction() as session:
        user = auth_service.create_user(session, name="ed", role="editor", actor="tester")
        key = auth_service.create_key(session, user=user, actor="tester").plaintext
    with TestClient(create_app(settings, db=db)) as client:
        headers = {"Authorization": f"Bearer {key}"}
        params = {"filename": "model.pt2", "intended_use": "internal"}
        r = client.put("/api/v1/models/evil/1", params=params, content=path.read_bytes(), headers=headers)
        assert r.status_code == 422 and REFUSED in r.text, r.text
        _nothing_registered(db, tmp_path / "storage")
        good = client.put(
            "/api/v1/models/good/1", params=params, content=legit["export"].read_bytes(), headers=headers
        )
        assert good.status_code == 201, good.text
    assert not marker.exists()


# -- the scheduler and the worker, on an archive the registry took before this fix ---------------------
START = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=2)


def _planted(db: Database, legit: dict[str, Path], tmp_path: Path) -> tuple[Path, LocalStorage]:
    """A model registered legitimately whose stored archive and recorded hash became the hostile one."""
    storage = LocalStorage(tmp_path / "storage")
    rng = np.random.default_rng(1)
    train = pd.DataFrame(rng.normal(size=(80, 4)), columns=FEATURES)
    train["label"] = (train["a"] > 0).astype(int)
    train_path = tmp_path / "train.csv"
    train.to_csv(train_path, index=False)
    batch = pd.DataFrame(rng.normal(size=(20, 4)), columns=FEATURES)
    batch.insert(0, "request_id", [f"r{i}" for i in range(20)])
    batch.insert(1, "timestamp", [(START + timedelta(minutes=i)).isoformat() for i in range(20)])
    batch["prediction"] = 1
    batch_path = tmp_path / "batch.csv"
    batch.to_csv(batch_path, index=False)
    marker = tmp_path / "marker"
    evil = hostile.pickled_constant_pt2(legit["export"], tmp_path / "evil.pt2", marker)
    with db.transaction() as session:
        dataset_service.register(
            session,
            storage=storage,
            file=inspect_file(train_path),
            name="blobs",
            version="1",
            license_expression="CC0-1.0",
            actor="t",
            label_column="label",
        )
        mv = model_service.register(
            session,
            storage=storage,
            artifact=model_service.inspect_artifact(legit["export"]),
            name="victim",
            version="1",
            intended_use="internal",
            actor="t",
            datasets=[("blobs@1", "train")],
        ).version
        production.ingest(session, storage=storage, mv=mv, path=batch_path, kind="predictions", actor="t")
        Path(mv.artifact_location).chmod(0o644)
        Path(mv.artifact_location).write_bytes(evil.read_bytes())
        mv.sha256 = hashlib.sha256(evil.read_bytes()).hexdigest()
    return marker, storage


def test_a_scheduled_consistency_run_never_runs_a_hostile_model(
    legit: dict[str, Path], db: Database, tmp_path: Path
) -> None:
    from monitors.scheduler import tick

    marker, storage = _planted(db, legit, tmp_path)
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, "victim@1")
        monitoring.create(
            session, name="consistent", mv=mv, kind="consistency", schedule="every 1h", window="1h",
            start_at=START, actor="editor", catchup="all",
        )  # fmt: skip
    reports = [r for r in tick(db, actor="scheduler", storage_root=storage.root) if r.window.start == START]
    assert len(reports) == 1 and reports[0].status == "error" and REFUSED in reports[0].summary, reports
    with db.transaction() as session:
        run = session.get(MonitorRun, reports[0].run_id)
        assert run is not None and run.status == "error"
    assert not marker.exists()


def test_the_worker_never_runs_a_hostile_model(legit: dict[str, Path], db: Database, tmp_path: Path) -> None:
    from trainer.worker import WorkerConfig, work

    marker, storage = _planted(db, legit, tmp_path)
    with db.transaction() as session:
        mv = model_service.get_by_ref(session, "victim@1")
        job_service.create(
            session,
            model_version_id=mv.id,
            monitor=None,
            window_start=START,
            reason="attack",
            params={},
            actor="t",
        )
    done = work(db, config=WorkerConfig(storage_root=storage.root, actor="worker", epochs=1), once=True)
    assert [d["status"] for d in done] == ["failed"] and REFUSED in done[0]["error"], done
    with db.transaction() as session:
        assert session.scalar(select(RetrainJob.status)) == "failed"
    assert not marker.exists()


def test_invalid_input_is_the_refusal_type() -> None:
    assert issubclass(UnsafeArchive, InvalidInput)
