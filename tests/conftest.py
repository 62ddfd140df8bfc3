"""Shared fixtures: a real database of each dialect, migrated by Alembic, one per test.

SQLite is a file under the test's tmp_path. PostgreSQL (when GOVERN_TEST_POSTGRES_URL names a
server) gets a fresh schema per test, selected through ``search_path``, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import create_engine, text

from governance.db import Database
from governance.migrate import upgrade

POSTGRES_URL = os.environ.get("GOVERN_TEST_POSTGRES_URL")


def _postgres_schema_url(base_url: str, schema: str) -> str:
    separator = "&" if "?" in base_url else "?"
    return f"{base_url}{separator}options={quote(f'-csearch_path={schema}')}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each dialect: SQLite always, PostgreSQL when configured."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'govern.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("GOVERN_TEST_POSTGRES_URL is not set")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    """A database migrated to head."""
    database = Database(database_url)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture
def storage_root(tmp_path: Path) -> Path:
    root = tmp_path / "storage"
    root.mkdir()
    return root


# -- the command line, against the test's database ---------------------------------------------
@pytest.fixture
def govern(database_url: str, tmp_path: Path) -> Callable[..., Result]:
    """Run ``govern ARGS...`` in-process against this test's database; asserts the exit code."""
    from governance.cli import main

    runner = CliRunner()
    env: dict[str, str | None] = {
        "GOVERN_DATABASE_URL": database_url,
        "GOVERN_STORAGE_ROOT": str(tmp_path / "storage"),
        "GOVERN_ACTOR": "tester",
        "GOVERN_API_KEY": None,
        "GOVERN_DEBUG": "0",
    }

    def run(*args: str, expect: int = 0, env_extra: dict[str, str | None] | None = None) -> Result:
        """``env_extra`` adds to (or, with None, removes from) the environment, e.g. GOVERN_API_KEY."""
        result = runner.invoke(main, list(args), env={**env, **(env_extra or {})}, catch_exceptions=False)
        assert result.exit_code == expect, (
            f"govern {' '.join(args)} exited {result.exit_code}:\n{result.stdout}\n{result.stderr}"
        )
        return result

    return run


@pytest.fixture(scope="session")
def breast_cancer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.datasets import load_breast_cancer

    path = tmp_path_factory.mktemp("data") / "breast_cancer.csv"
    load_breast_cancer(as_frame=True).frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def torchscript_models(tmp_path_factory: pytest.TempPathFactory, breast_cancer_csv: Path) -> list[Path]:
    """Three small, really trained TorchScript models on breast-cancer (distinct artifacts)."""
    import numpy as np
    import pandas as pd
    import torch

    frame = pd.read_csv(breast_cancer_csv)
    x = torch.tensor(frame.drop(columns="target").to_numpy(np.float32))
    x = (x - x.mean(0)) / x.std(0)
    y = torch.tensor(frame["target"].to_numpy())
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for seed in range(3):
        torch.manual_seed(seed)
        model = torch.nn.Sequential(torch.nn.Linear(x.shape[1], 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        for _ in range(30):
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x), y).backward()
            optimizer.step()
        path = folder / f"model{seed}.pt"
        torch.jit.save(torch.jit.script(model), str(path))
        paths.append(path)
    return paths
