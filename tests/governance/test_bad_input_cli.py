"""The same bad input on the command line: exit 2 and one sentence, never exit 3 with an SQL statement.

Huge identifiers, values longer than their column, NUL bytes, NaN and Infinity, deep JSON: refused
by the services (governance/validation.py) before the database sees them, on both databases, and
nothing is written: no row, no audit event, no stored file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from governance.audit.models import AuditEvent
from governance.db import Database
from tests.cli_steps import register_dataset

BIG = ("2147483648", "9223372036854775808", "1" + "0" * 30)


def _one_sentence(result: Any, *words: str) -> str:
    err = result.stderr.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    for marker in ("SELECT", "INSERT", "UPDATE", "[SQL", "Traceback", "unexpected"):
        assert marker not in err, err
    for word in words:
        assert word in err, err
    return str(err)


def _events(database_url: str) -> int:
    db = Database(database_url)
    try:
        with db.transaction() as session:
            return int(session.scalar(select(func.count()).select_from(AuditEvent)) or 0)
    finally:
        db.dispose()


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def registry(govern: Any, breast_cancer_csv: Path, torchscript_models: list[Path]) -> None:
    register_dataset(govern, str(breast_cancer_csv), "bc@1", "CC-BY-4.0")
    govern(
        "model", "register", str(torchscript_models[0]), "--name", "fraud", "--version", "1",
        "--trained-on", "bc@1", "--intended-use", "internal", "--no-explain",
    )  # fmt: skip


def test_identifiers_beyond_the_integer_range(govern: Any, registry: None, database_url: str) -> None:
    before = _events(database_url)
    for big in BIG:
        _one_sentence(govern("alert", "ack", big, expect=2), "out of range")
        _one_sentence(govern("alert", "resolve", big, expect=2), "out of range")
        _one_sentence(govern("monitor", "show", big, expect=2), "out of range")
        _one_sentence(govern("approval", "approve", big, expect=2))
        _one_sentence(govern("approval", "cancel", big, expect=2))
    offset = govern("audit", "log", "--offset", BIG[1], expect=2)  # click's own usage error
    assert "not in the range" in offset.stderr
    _one_sentence(govern("alert", "ack", "0", expect=2), "out of range")
    _one_sentence(govern("alert", "ack", str(2**31 - 1), expect=2), "does not exist")
    assert _events(database_url) == before


@pytest.mark.parametrize(
    ("option", "length", "column"),
    [("--framework", 32, "framework"), ("--task", 64, "task"), ("--mlflow-run-id", 64, "mlflow run id")],
)
def test_model_values_longer_than_their_column(
    govern: Any,
    registry: None,
    database_url: str,
    tmp_path: Path,
    torchscript_models: list[Path],
    option: str,
    length: int,
    column: str,
) -> None:
    before, files = _events(database_url), _files(tmp_path / "storage")
    args = ["model", "register", str(torchscript_models[1]), "--name", "fraud", "--version", "2"]
    args += ["--intended-use", "internal", option]
    _one_sentence(govern(*args, "x" * (length + 1), expect=2), column, f"at most {length}")
    assert (_events(database_url), _files(tmp_path / "storage")) == (before, files)
    govern("model", "show", "fraud@2", expect=2)  # nothing registered
    govern(*args, "x" * length)  # exactly the column's length fits


def test_dataset_legal_basis_longer_than_its_column(
    govern: Any, registry: None, database_url: str, breast_cancer_csv: Path, tmp_path: Path
) -> None:
    before, files = _events(database_url), _files(tmp_path / "storage")
    args = ["dataset", "register", str(breast_cancer_csv), "--name", "bc2", "--version", "1"]
    args += ["--license", "CC-BY-4.0", "--personal-data", "personal", "--legal-basis", "x" * 257]
    _one_sentence(govern(*args, expect=2), "legal basis", "at most 256")
    assert (_events(database_url), _files(tmp_path / "storage")) == (before, files)


def test_nul_bytes_in_values(
    govern: Any, registry: None, database_url: str, torchscript_models: list[Path]
) -> None:
    before = _events(database_url)
    args = ["model", "register", str(torchscript_models[1]), "--name", "fraud", "--version", "2"]
    _one_sentence(
        govern(*args, "--intended-use", "internal", "--description", "a\x00b", expect=2), "description", "NUL"
    )
    _one_sentence(govern("model", "show", "fraud\x00@1", expect=2), "not valid")
    _one_sentence(govern("monitor", "show", "m\x00", expect=2), "NUL")
    _one_sentence(govern("user", "add", "eve\x00", "--role", "viewer", expect=2), "not valid")
    assert _events(database_url) == before


def test_nan_and_infinity_in_metrics_and_thresholds(
    govern: Any, registry: None, database_url: str, torchscript_models: list[Path]
) -> None:
    before = _events(database_url)
    args = ["model", "register", str(torchscript_models[1]), "--name", "fraud", "--version", "2"]
    for metrics in ('{"auc": NaN}', '{"auc": Infinity}', '{"auc": [1, -Infinity]}'):
        _one_sentence(
            govern(*args, "--intended-use", "internal", "--metrics", metrics, expect=2), "--metrics"
        )
    monitor = ["monitor", "add", "m1", "--model", "fraud@1", "--kind", "data_drift"]
    for value in ("NaN", "Infinity", "-Infinity"):
        _one_sentence(govern(*monitor, "--threshold", f"share_drifted={value}", expect=2), "finite")
    _one_sentence(govern(*monitor, "--param", "x=" + "[" * 5000 + "]" * 5000, expect=2), "nested")
    _one_sentence(govern(*args, "--intended-use", "internal", "--metrics", "[" * 5000, expect=2), "nested")
    _one_sentence(govern(*args, "--intended-use", "internal", "--seed", str(2**31), expect=2), "seed")
    assert _events(database_url) == before
    govern(*monitor, "--threshold", "share_drifted=0.5")  # a finite threshold is fine


def test_drift_thresholds_must_be_finite(govern: Any, breast_cancer_csv: Path) -> None:
    csv = str(breast_cancer_csv)
    _one_sentence(govern("drift", csv, csv, "--threshold", "mean radius=nan", expect=2), "not a number")
