"""The registry's command-line contract, end to end on real files and both databases."""

from __future__ import annotations

import gzip
import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, func, select, text

from governance.models import AuditEvent, DatasetVersion, ModelVersion


def _json(result: Any) -> Any:
    return json.loads(result.stdout)


def _counts(database_url: str) -> tuple[int, int, int]:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            tables = {r[0] for r in conn.execute(text("SELECT 1 AS x")).fetchall()}  # connection works
            assert tables == {1}
            return (
                conn.scalar(select(func.count()).select_from(AuditEvent)) or 0,
                conn.scalar(select(func.count()).select_from(DatasetVersion)) or 0,
                conn.scalar(select(func.count()).select_from(ModelVersion)) or 0,
            )
    finally:
        engine.dispose()


def _key_env(govern: Any, user: str = "ed", role: str = "editor") -> dict[str, str | None]:
    """A user of ``role`` and the GOVERN_API_KEY environment that acts as them."""
    govern("user", "add", user, "--role", role)
    return {"GOVERN_API_KEY": _json(govern("key", "create", user, "--json"))["key"]}


def test_dataset_register_records_file_facts(govern: Any, breast_cancer_csv: Path) -> None:
    out = _json(
        govern(
            "dataset",
            "register",
            str(breast_cancer_csv),
            "--name",
            "bc",
            "--version",
            "1",
            "--license",
            "cc-by-4.0",
            "--label",
            "target",
            "--json",
        )
    )
    assert out["created"] is True
    assert out["sha256"] == hashlib.sha256(breast_cancer_csv.read_bytes()).hexdigest()
    assert out["rows"] == 569
    assert out["format"] == "csv"
    assert out["license"] == "CC-BY-4.0"
    assert len(out["columns"]) == 31 and out["label_column"] == "target"
    assert Path(out["location"]).read_bytes() == breast_cancer_csv.read_bytes()
    shown = _json(govern("dataset", "show", "bc@1", "--json"))
    assert shown["sha256"] == out["sha256"]


def test_same_content_again_is_a_no_op(govern: Any, database_url: str, breast_cancer_csv: Path) -> None:
    args = (
        "dataset",
        "register",
        str(breast_cancer_csv),
        "--name",
        "bc",
        "--version",
        "1",
        "--license",
        "MIT",
    )
    govern(*args)
    before = _counts(database_url)
    again = _json(govern(*args, "--json"))
    assert again["created"] is False
    assert _counts(database_url) == before


def test_formats_parquet_csv_gz_npz(govern: Any, breast_cancer_csv: Path, tmp_path: Path) -> None:
    frame = pd.read_csv(breast_cancer_csv)
    parquet = tmp_path / "bc.parquet"
    frame.to_parquet(parquet)
    gz = tmp_path / "bc.csv.gz"
    with breast_cancer_csv.open("rb") as src, gzip.open(gz, "wb") as dst:
        shutil.copyfileobj(src, dst)
    npz = tmp_path / "digits.npz"
    np.savez(npz, X=np.zeros((10, 64), np.float32), y=np.arange(10))
    for i, (path, fmt) in enumerate([(parquet, "parquet"), (gz, "csv"), (npz, "npz")]):
        out = _json(
            govern(
                "dataset",
                "register",
                str(path),
                "--name",
                f"d{i}",
                "--version",
                "1",
                "--license",
                "CC0-1.0",
                "--json",
            )
        )
        assert out["format"] == fmt
        assert out["rows"] == (10 if fmt == "npz" else 569)


def test_model_register_check_promote_and_history(
    govern: Any, breast_cancer_csv: Path, torchscript_models: list[Path]
) -> None:
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
    )
    v1 = _json(
        govern(
            "model",
            "register",
            str(torchscript_models[0]),
            "--name",
            "fraud",
            "--version",
            "1",
            "--trained-on",
            "bc@1",
            "--intended-use",
            "commercial",
            "--json",
        )
    )
    assert v1["stage"] == "candidate" and v1["framework"] == "pytorch"
    assert any(d["name"] == "torch" and d["license"] for d in v1["dependencies"])
    check = _json(govern("check", "fraud@1", "--json"))
    assert set(check) >= {"model", "violations", "obligations", "warnings"}
    assert check["model"] == "fraud@1" and check["violations"] == []
    assert any(
        o["property"] == "attribution" and o["path"] == ["fraud@1", "bc@1"] for o in check["obligations"]
    )
    editor = _key_env(govern)
    govern("promote", "fraud@1", "--stage", "production", env_extra=editor)
    between = _json(govern("model", "history", "fraud", "--json"))["transitions"][-1]["at"]
    govern(
        "model",
        "register",
        str(torchscript_models[1]),
        "--name",
        "fraud",
        "--version",
        "2",
        "--trained-on",
        "bc@1",
        "--intended-use",
        "commercial",
    )
    govern("promote", "fraud@2", "--stage", "production", env_extra=editor)
    history = _json(govern("model", "history", "fraud", "--json"))
    assert history["in_production"] == ["fraud@2"]
    assert [(t["version"], t["to"]) for t in history["transitions"]][-2:] == [
        ("fraud@1", "archived"),
        ("fraud@2", "production"),
    ]
    past = _json(govern("model", "history", "fraud", "--at", between, "--json"))
    assert past["in_production"] == ["fraud@1"]
    assert _json(govern("model", "show", "fraud@1", "--json"))["stage"] == "archived"


def test_check_exit_code_and_refused_promotion(
    govern: Any, database_url: str, breast_cancer_csv: Path, torchscript_models: list[Path]
) -> None:
    govern(
        "dataset",
        "register",
        str(breast_cancer_csv),
        "--name",
        "faces",
        "--version",
        "3",
        "--license",
        "CC-BY-NC-4.0",
    )
    govern(
        "model",
        "register",
        str(torchscript_models[0]),
        "--name",
        "base",
        "--version",
        "1",
        "--trained-on",
        "faces@3",
        "--intended-use",
        "research",
    )
    govern(
        "model",
        "register",
        str(torchscript_models[1]),
        "--name",
        "fraud",
        "--version",
        "2",
        "--base-model",
        "base@1",
        "--intended-use",
        "commercial",
    )
    result = govern("check", "fraud@2", "--json", expect=1)
    violations = _json(result)["violations"]
    assert {"license", "property", "path", "message"} <= set(violations[0])
    assert violations == [
        {
            "license": "CC-BY-NC-4.0",
            "property": "commercial_use",
            "path": ["fraud@2", "base@1", "faces@3"],
            "message": violations[0]["message"],
        }
    ]
    assert "fraud@2 → base@1 → faces@3" in govern("check", "fraud@2", expect=1).stdout
    govern("check", "base@1")  # research use: no violation, exit 0
    editor = _key_env(govern)
    before = _counts(database_url)
    refused = govern("promote", "fraud@2", "--stage", "production", expect=2, env_extra=editor)
    assert refused.stderr.startswith("error: fraud@2 cannot go to production")
    assert _counts(database_url) == before
    assert _json(govern("model", "show", "fraud@2", "--json"))["stage"] == "candidate"


def test_lineage_json(govern: Any, breast_cancer_csv: Path, torchscript_models: list[Path]) -> None:
    govern(
        "dataset",
        "register",
        str(breast_cancer_csv),
        "--name",
        "bc",
        "--version",
        "1",
        "--license",
        "CC0-1.0",
    )
    govern(
        "model",
        "register",
        str(torchscript_models[0]),
        "--name",
        "base",
        "--version",
        "1",
        "--trained-on",
        "bc@1",
        "--intended-use",
        "research",
        "--license",
        "Apache-2.0",
    )
    govern(
        "model",
        "register",
        str(torchscript_models[1]),
        "--name",
        "tuned",
        "--version",
        "1",
        "--base-model",
        "base@1",
        "--validated-on",
        "bc@1",
        "--intended-use",
        "internal",
    )
    tree = _json(govern("model", "lineage", "tuned@1", "--json"))
    assert tree["ref"] == "tuned@1"
    assert tree["datasets"][0]["ref"] == "bc@1" and tree["datasets"][0]["role"] == "validation"
    assert tree["base_model"]["ref"] == "base@1"
    assert tree["base_model"]["datasets"][0]["role"] == "train"


def test_license_commands(govern: Any, breast_cancer_csv: Path, torchscript_models: list[Path]) -> None:
    rows = _json(govern("license", "list", "--json"))
    assert len(rows) >= 30
    assert _json(govern("license", "show", "cc-by-nc-4.0", "--json"))["commercial_use"] is False
    govern(
        "license",
        "add",
        "LicenseRef-acme-data",
        "--name",
        "ACME data terms",
        "--no-commercial",
        "--attribution",
        "--kind",
        "data",
    )
    govern("license", "add", "LicenseRef-acme-data", "--name", "again", expect=2)
    govern(
        "dataset",
        "register",
        str(breast_cancer_csv),
        "--name",
        "acme",
        "--version",
        "1",
        "--license",
        "LicenseRef-acme-data",
    )
    govern(
        "model",
        "register",
        str(torchscript_models[0]),
        "--name",
        "m",
        "--version",
        "1",
        "--trained-on",
        "acme@1",
        "--intended-use",
        "commercial",
    )
    assert (
        _json(govern("check", "m@1", "--json", expect=1))["violations"][0]["license"]
        == "LicenseRef-acme-data"
    )


def test_audit_log_and_verify(govern: Any, breast_cancer_csv: Path) -> None:
    govern(
        "dataset", "register", str(breast_cancer_csv), "--name", "bc", "--version", "1", "--license", "MIT"
    )
    events = _json(govern("audit", "log", "--json"))
    assert events[0]["action"] == "dataset.register" and events[0]["actor"] == "tester"
    verified = _json(govern("audit", "verify", "--json"))
    assert verified["ok"] is True and verified["events"] == 1 and verified["first_bad_event"] is None


# -- bad input: one line on stderr, exit 2, nothing written ----------------------------------
@pytest.fixture
def seeded(govern: Any, breast_cancer_csv: Path, torchscript_models: list[Path]) -> None:
    govern(
        "dataset", "register", str(breast_cancer_csv), "--name", "bc", "--version", "1", "--license", "MIT"
    )
    govern(
        "model",
        "register",
        str(torchscript_models[0]),
        "--name",
        "m",
        "--version",
        "1",
        "--trained-on",
        "bc@1",
        "--intended-use",
        "internal",
    )


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    parquet = tmp_path / "broken.parquet"
    parquet.write_bytes(b"this is not parquet at all")
    npz = tmp_path / "broken.npz"
    npz.write_bytes(b"PK\x03\x04 nope")
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    unsupported = tmp_path / "data.xlsx"
    unsupported.write_text("x")
    return {
        "ragged": ragged,
        "empty": empty,
        "parquet": parquet,
        "npz": npz,
        "other": other,
        "unsupported": unsupported,
    }


BAD_COMMANDS = {
    "missing file": (
        "dataset",
        "register",
        "{tmp}/nope.csv",
        "--name",
        "x",
        "--version",
        "1",
        "--license",
        "MIT",
    ),
    "ragged csv": ("dataset", "register", "{ragged}", "--name", "x", "--version", "1", "--license", "MIT"),
    "empty csv": ("dataset", "register", "{empty}", "--name", "x", "--version", "1", "--license", "MIT"),
    "broken parquet": (
        "dataset",
        "register",
        "{parquet}",
        "--name",
        "x",
        "--version",
        "1",
        "--license",
        "MIT",
    ),
    "broken npz": ("dataset", "register", "{npz}", "--name", "x", "--version", "1", "--license", "MIT"),
    "unsupported format": (
        "dataset",
        "register",
        "{unsupported}",
        "--name",
        "x",
        "--version",
        "1",
        "--license",
        "MIT",
    ),
    "unknown license": (
        "dataset",
        "register",
        "{other}",
        "--name",
        "x",
        "--version",
        "1",
        "--license",
        "No-Such-License-1.0",
    ),
    "malformed expression": (
        "dataset",
        "register",
        "{other}",
        "--name",
        "x",
        "--version",
        "1",
        "--license",
        "MIT AND (Apache-2.0",
    ),
    "unknown label": (
        "dataset",
        "register",
        "{other}",
        "--name",
        "x",
        "--version",
        "1",
        "--license",
        "MIT",
        "--label",
        "zzz",
    ),
    "version conflict": (
        "dataset",
        "register",
        "{other}",
        "--name",
        "bc",
        "--version",
        "1",
        "--license",
        "MIT",
    ),
    "bad name": (
        "dataset",
        "register",
        "{other}",
        "--name",
        "bad name!",
        "--version",
        "1",
        "--license",
        "MIT",
    ),
    "unknown trained-on": (
        "model",
        "register",
        "{model}",
        "--name",
        "n",
        "--version",
        "1",
        "--trained-on",
        "nope@9",
        "--intended-use",
        "research",
    ),
    "unknown base model": (
        "model",
        "register",
        "{model}",
        "--name",
        "n",
        "--version",
        "1",
        "--base-model",
        "nope@1",
        "--intended-use",
        "research",
    ),
    "lineage cycle": (
        "model",
        "register",
        "{model}",
        "--name",
        "n",
        "--version",
        "1",
        "--base-model",
        "n@1",
        "--intended-use",
        "research",
    ),
    "model version conflict": (
        "model",
        "register",
        "{model}",
        "--name",
        "m",
        "--version",
        "1",
        "--intended-use",
        "research",
    ),
    "bad metrics json": (
        "model",
        "register",
        "{model}",
        "--name",
        "n",
        "--version",
        "1",
        "--intended-use",
        "research",
        "--metrics",
        "{{nope",
    ),
    "malformed ref": ("check", "no-version-here"),
    "unknown ref": ("check", "ghost@1"),
    "unknown license show": ("license", "show", "Nope-1.0"),
    "bad history time": ("model", "history", "m", "--at", "yesterday-ish"),
    "same stage": ("promote", "m@1", "--stage", "archived"),
}


@pytest.mark.parametrize("case", sorted(BAD_COMMANDS))
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: str, govern: Any, seeded: None, database_url: str, tmp_path: Path, torchscript_models: list[Path]
) -> None:
    files = _bad_files(tmp_path)
    values = {
        **{k: str(v) for k, v in files.items()},
        "tmp": str(tmp_path),
        "model": str(torchscript_models[2]),
    }
    args = [a.format(**values) for a in BAD_COMMANDS[case]]
    if case == "same stage":
        govern("promote", "m@1", "--stage", "archived")
    before = _counts(database_url)
    storage_before = sorted(p.name for p in (tmp_path / "storage").rglob("*"))
    result = govern(*args, expect=2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    assert _counts(database_url) == before
    assert sorted(p.name for p in (tmp_path / "storage").rglob("*")) == storage_before


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from governance.cli import main

    for url in (
        "postgresql+psycopg://nobody@127.0.0.1:1/none",
        f"sqlite:///{tmp_path}/missing/dir/govern.db",
    ):
        result = CliRunner().invoke(main, ["model", "list"], env={"GOVERN_DATABASE_URL": url})
        assert result.exit_code == 2
        assert result.stderr.startswith("error: ") and len(result.stderr.strip().splitlines()) == 1


def test_registration_stores_the_quality_report(govern: Any, tmp_path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, None, 4.0] * 30, "y": ["Normal", "normal", "ill", "ill"] * 30})
    path = tmp_path / "planted.csv"
    frame.to_csv(path, index=False)

    def register(version: str, *options: str) -> dict[str, Any]:
        args = ("--name", "planted", "--version", version, "--license", "CC0-1.0", *options, "--json")
        return _json(govern("dataset", "register", str(path), *args))

    out = register("1", "--label", "y")
    checks = {(f["dimension"], f["check"]) for f in out["quality"]["findings"]}
    assert ("validity", "missing_values") in checks and ("consistency", "case_or_spacing_variants") in checks
    assert register("2", "--no-quality")["quality"] is None


def test_a_pytorch_archive_is_known_by_its_content(govern: Any, tmp_path: Path) -> None:
    """The platform's own archives (and TorchScript, torch.export) need no --framework, whatever the suffix."""
    from trainer.architectures import MLPConfig, build_module
    from trainer.modelio import save_platform_model

    config = MLPConfig(n_features=3, n_outputs=2, hidden=(4,))
    archive = tmp_path / "model.zip"
    save_platform_model(build_module(config), config, archive)
    shown = json.loads(
        govern(
            "model",
            "register",
            str(archive),
            "--name",
            "m",
            "--version",
            "1",
            "--intended-use",
            "internal",
            "--json",
        ).output
    )
    assert shown["framework"] == "pytorch"
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("readme.txt", "not a model")
    result = govern(
        "model",
        "register",
        str(other),
        "--name",
        "o",
        "--version",
        "1",
        "--intended-use",
        "internal",
        expect=2,
    )
    assert "pass --framework" in result.output
