"""Model checks run in a limited child process: a hostile model ends its own run in ``error`` and the
scheduler goes on; a normal check gives exactly what it gives in the scheduler's own process."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest
import torch
from sqlalchemy import select

from governance.cli import scenario
from governance.db import Database
from governance.mlmodel import service as model_service
from governance.monitoring import service as monitoring
from governance.monitoring.models import MonitorRun
from governance.monitoring.schedule import Window
from governance.settings import Settings
from governance.storage import sha256_file
from monitors import (
    checks,  # noqa: F401  (installs the adapters)
    scheduler,
)
from monitors.runner import CHECKS, load_window
from monitors.sandbox import ModelCheckLimits, _jsonable, run_in_child

TINY = scenario.Scenario(windows=2, drift_from=1, rows_per_window=80, epochs=3)


def _deploy(db: Database, root: Path, database_url: str) -> Settings:
    settings = Settings(database_url=database_url, storage_root=root / "storage", actor="t")
    pool = scenario.deploy(db, settings, root / "work", TINY, lambda _: None)
    scenario.stream(db, settings, root / "work", TINY, pool, lambda _: None)
    return settings


def _monitor(db: Database, name: str, kind: str, **fields: object) -> int:
    with db.transaction() as s:
        mv = model_service.get_by_ref(s, f"{scenario.MODEL}@1")
        return monitoring.create(
            s,
            name=name,
            mv=mv,
            kind=kind,
            schedule="every 1h",
            window="1h",
            start_at=scenario.first_window(TINY),
            actor="t",
            **fields,  # type: ignore[arg-type]
        ).id


class Hog(torch.nn.Module):
    """Fills 4 GB on every call."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        big = torch.ones(1 << 30)
        return x[:, :10] + big[0]


class Spin(torch.nn.Module):
    """Never returns in any useful time."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x[:, :10]
        for _ in range(1 << 40):
            y = torch.tanh(y @ torch.ones(10, 10))
        return y


HOSTILE = {
    # behaviour: (module, limits, what the run says)
    "memory": (
        Hog(),
        ModelCheckLimits(memory_mb=2048, cpu_seconds=60, timeout_seconds=120),
        "memory limit of 2048 MB",
    ),
    "cpu": (Spin(), ModelCheckLimits(cpu_seconds=3, timeout_seconds=120), "CPU time limit of 3 s"),
    "wall clock": (Spin(), ModelCheckLimits(cpu_seconds=600, timeout_seconds=4), "longer than its 4 s limit"),
}


@pytest.mark.parametrize("behaviour", sorted(HOSTILE))
def test_a_hostile_model_errors_its_own_run_and_the_tick_goes_on(
    db: Database, database_url: str, tmp_path: Path, behaviour: str
) -> None:
    module, limits, sentence = HOSTILE[behaviour]
    settings = _deploy(db, tmp_path, database_url)
    hostile = tmp_path / "hostile.pt"
    torch.jit.save(torch.jit.script(module), str(hostile))
    with db.transaction() as s:  # the registered archive is now the hostile one (an editor's upload)
        mv = model_service.get_by_ref(s, f"{scenario.MODEL}@1")
        mv.artifact_location, mv.sha256 = str(hostile), sha256_file(hostile)
    bad = _monitor(db, "hostile-consistency", "consistency")
    good = _monitor(db, "drift", "data_drift", params={"report": False})
    reports = scheduler.tick(
        db, actor="system:scheduler", storage_root=settings.storage_root, worker="t", model_limits=limits
    )
    with db.transaction() as s:
        runs = {(r.monitor_id, r.window_start): r for r in s.scalars(select(MonitorRun))}
    assert len(runs) == len(reports) == 2  # coalesced: the latest window of each monitor
    assert {r.monitor_id for r in runs.values()} == {bad, good}
    for run in runs.values():
        if run.monitor_id == bad:
            assert run.status == "error", run.to_dict()
            assert run.error is not None and sentence in run.error and "\n" not in run.error, run.error
        else:
            assert run.monitor_id == good and run.status in ("ok", "warning", "breach"), run.to_dict()


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Database, Settings]:
    from governance.migrate import upgrade

    root = tmp_path_factory.mktemp("sandbox")
    url = f"sqlite:///{root / 'govern.db'}"
    db = Database(url)
    upgrade(db.engine)
    return db, _deploy(db, root, url)


PARAMS = {
    "consistency": ({}, {}),
    "robustness": ({"epsilon": 0.1, "min_accuracy": 0.3}, {"max_samples": 40, "epsilons": [0.1]}),
    "attribution_drift": ({}, {"max_rows": 40, "method": "ablation"}),
}


def _comparable(outcome: object) -> object:
    """The outcome as stored JSON, without how long it took (the only field that may differ)."""

    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {
                k: strip(v) for k, v in value.items() if k != "seconds" and not str(k).endswith("_seconds")
            }
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(json.dumps(asdict(outcome), default=_jsonable)))  # type: ignore[call-overload]


@pytest.mark.parametrize("kind", sorted(PARAMS))
def test_a_check_in_the_child_gives_what_it_gives_in_process(
    deployed: tuple[Database, Settings], kind: str
) -> None:
    db, settings = deployed
    thresholds, params = PARAMS[kind]
    monitor_id = _monitor(db, f"same-{kind}", kind, thresholds=thresholds, params=params)
    start = scenario.first_window(TINY) + timedelta(hours=1)
    data = load_window(
        db,
        monitor_id=monitor_id,
        window=Window(start, start + timedelta(hours=1)),
        storage_root=settings.storage_root,
    )
    here = CHECKS[kind](data)
    there = run_in_child(kind, data, ModelCheckLimits())
    assert _comparable(there) == _comparable(here)
    assert there.status in ("ok", "warning", "breach") and there.rows


def test_the_child_gets_no_platform_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitors.sandbox import _child_env

    monkeypatch.setenv("GOVERN_DATABASE_URL", "postgresql://app:pw-7f3a9c@db/prod")
    monkeypatch.setenv("GOVERN_AUDIT_KEY", "audit-key-0d41e2b7c9")
    env = _child_env()
    assert not any(k.startswith("GOVERN_") for k in env)
    assert "pw-7f3a9c" not in json.dumps(env) and "audit-key-0d41e2b7c9" not in json.dumps(env)
