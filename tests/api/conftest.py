from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from dashboards.api.app import create_app
from governance.db import Database
from governance.settings import Settings
from tests.api import world as world_module


@pytest.fixture
def world(db: Database, breast_cancer_csv: Path, torchscript_models: list[Path]) -> world_module.World:
    return world_module.build(db, breast_cancer_csv, torchscript_models)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, storage_root=tmp_path / "storage", actor="tester")


@pytest.fixture
def client(db: Database, settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings, db=db)) as test_client:
        yield test_client
