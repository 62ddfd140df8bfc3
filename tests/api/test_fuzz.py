"""A bounded, seeded schemathesis run over the whole API with an admin key: no input is a 5xx.

Every operation in ``/openapi.json`` gets schemathesis' example, coverage (boundary values: huge
integers, empty and NUL-bearing strings, wrong types) and fuzzing phases, positive and negative
data, against the app in-process (ASGI) over a registry with real rows, on each database. The
figures (cases per dialect) are asserted at the end so the run cannot silently shrink.
"""

from __future__ import annotations

import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode
from sqlalchemy import create_engine, text

from dashboards.api.app import create_app
from governance.db import Database
from governance.migrate import upgrade
from governance.settings import Settings
from tests.api import world as world_module
from tests.conftest import POSTGRES_URL, _postgres_schema_url

pytestmark = pytest.mark.slow

SEED = 20_261_114
EXAMPLES_PER_OPERATION = int(os.environ.get("GOVERN_FUZZ_EXAMPLES", "85"))
MIN_CASES = 5_000


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def fuzz_world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    breast_cancer_csv: Path,
    torchscript_models: list[Path],
) -> Iterator[tuple[str, Any, world_module.World]]:
    """One registry per dialect for the whole run (rebuilding it per operation would dominate)."""
    tmp = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    schema_name = None
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'govern.db'}"
    else:
        if not POSTGRES_URL:
            pytest.skip("GOVERN_TEST_POSTGRES_URL is not set")
        schema_name = f"t_{uuid.uuid4().hex[:16]}"
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema_name}"'))
        url = _postgres_schema_url(POSTGRES_URL, schema_name)
    db = Database(url)
    upgrade(db.engine)
    world = world_module.build(db, breast_cancer_csv, torchscript_models)
    app = create_app(Settings(database_url=url, storage_root=tmp / "storage", actor="fuzz"), db=db)
    try:
        yield request.param, app, world
    finally:
        db.dispose()
        if schema_name is not None:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema_name}" CASCADE'))
            admin.dispose()


def run_schemathesis(app: Any, headers: dict[str, str]) -> tuple[Counter[str], list[str]]:
    """One seeded schemathesis run (all phases) over ``app``; (cases per phase, 5xx lines)."""
    from schemathesis.engine import events, from_schema

    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.seed = SEED
    schema.config.update(headers=headers, continue_on_failure=True)
    schema.config.checks.update(included_check_names=["not_a_server_error"])
    schema.config.generation.update(
        modes=list(GenerationMode), max_examples=EXAMPLES_PER_OPERATION, deterministic=True, database="none"
    )
    cases: Counter[str] = Counter()
    errors: list[str] = []
    for event in from_schema(schema).execute():
        if isinstance(event, events.FatalError):
            raise event.exception
        if isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {type(event.value).__name__}: {str(event.value)[:200]}")
        if isinstance(event, events.ScenarioFinished):
            for interaction in event.recorder.interactions.values():
                cases[event.phase.value] += 1
                response = interaction.response
                if response is not None and response.status_code >= 500:
                    request = interaction.request
                    errors.append(
                        f"{response.status_code} {request.method} {request.uri}: {response.text[:200]}"
                    )
    return cases, errors


def test_no_server_error(fuzz_world: tuple[str, Any, world_module.World]) -> None:
    dialect, app, world = fuzz_world
    started = time.monotonic()
    cases, errors = run_schemathesis(app, world.headers("admin"))
    elapsed = time.monotonic() - started
    print(
        f"schemathesis on {dialect}: {sum(cases.values())} cases {dict(cases)}, {len(errors)} 5xx, {elapsed:.0f} s"
    )
    assert not errors, "\n".join(errors[:40])
    assert sum(cases.values()) >= MIN_CASES
