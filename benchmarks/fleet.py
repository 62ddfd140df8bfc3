"""A fleet of registered models for the scale tests and benchmarks, built through the services.

Each model has a license, is trained on one of a few shared datasets (licenses and personal data
varied, some derived from others), every fifth is fine-tuned from the one before, and the first
version of each is in production. Optionally each has a monitor whose one window breached, so it
has an open alert.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from governance.dataset import service as dataset_service
from governance.dataset.files import inspect_file
from governance.db import Database
from governance.errors import NotFound
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion
from governance.monitoring import service as monitoring_service
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome

START = datetime(2026, 11, 1, tzinfo=UTC)
DATASET_LICENSES = ("CC-BY-4.0", "CC0-1.0", "CC-BY-SA-4.0", "ODbL-1.0", "CC-BY-NC-4.0", "MIT")
MODEL_LICENSES = ("Apache-2.0", "MIT", "OpenRAIL-M", "CC-BY-4.0")

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Fleet:
    models: int
    datasets: int
    monitors: int


def _datasets(db: Database, folder: Path) -> list[str]:
    refs = []
    with db.transaction() as session:
        for i, license in enumerate(DATASET_LICENSES):
            path = folder / f"fleet-data-{i}.csv"
            path.write_text("x,y,label\n" + "".join(f"{j},{(j * 7 + i) % 11},{j % 2}\n" for j in range(20)))
            personal = "pseudonymous" if i % 3 == 0 else "none"
            dataset_service.register(
                session,
                storage=None,
                file=inspect_file(path),
                name=f"fleet-data-{i}",
                version="1",
                license_expression=license,
                actor="fleet",
                label_column="label",
                personal_data=personal,
                legal_basis="GDPR Art. 6(1)(f) legitimate interest" if personal != "none" else None,
                jurisdictions=["GDPR"] if personal != "none" else [],
                derived_from=[refs[-1]] if i % 2 and refs else None,
            )
            refs.append(f"fleet-data-{i}@1")
    return refs


def build(
    db: Database,
    folder: Path,
    *,
    models: int,
    monitors: bool = False,
    prefix: str = "fleet",
    batch: int = 100,
) -> Fleet:
    """Register ``models`` models under ``folder``; ``monitors``: one breached monitor each."""
    folder.mkdir(parents=True, exist_ok=True)
    if _has(db, "fleet-data-0"):
        datasets = [f"fleet-data-{i}@1" for i in range(len(DATASET_LICENSES))]
    else:
        datasets = _datasets(db, folder)
    monitor_ids: list[int] = []
    for first in range(0, models, batch):
        with db.transaction() as session:
            for i in range(first, min(first + batch, models)):
                mv = production_version(session, folder, prefix=prefix, i=i, datasets=datasets, actor="fleet")
                if monitors:
                    monitor = monitoring_service.create(
                        session,
                        name=f"{prefix}-{i:05d}-drift",
                        mv=mv,
                        kind="data_drift",
                        schedule="every 1h",
                        window="1h",
                        actor="fleet",
                        start_at=START,
                        thresholds={"share_drifted": 0.5},
                    )
                    session.flush()
                    monitor_ids.append(monitor.id)
    for monitor_id in monitor_ids:
        run_id = monitoring_service.claim(
            db, monitor_id=monitor_id, window=Window(START, START + timedelta(hours=1)), worker="fleet"
        )
        assert run_id is not None
        with db.transaction() as session:
            outcome = CheckOutcome("breach", {"share_drifted": 0.8}, {"share_drifted": 0.5}, "80% drifted")
            monitoring_service.finish(
                session, run_id=run_id, outcome=outcome, duration_ms=5, actor="scheduler"
            )
    return Fleet(models=models, datasets=len(datasets), monitors=len(monitor_ids))


def production_version(
    session: Session,
    folder: Path,
    *,
    prefix: str,
    i: int,
    datasets: list[str],
    actor: str,
    accuracy: float = 0.9,
) -> ModelVersion:
    """The fleet's ``i``-th model, ``{prefix}-{i:05d}@1``, registered and in production: its license,
    training and reference datasets picked from ``datasets`` by ``i``, every fifth fine-tuned from
    the one before (its artifact a few bytes under ``folder``: nothing here loads it)."""
    path = folder / f"{prefix}-{i}.pt"
    path.write_bytes(f"weights of {prefix} model {i}".encode())
    mv = model_service.register(
        session,
        storage=None,
        artifact=model_service.inspect_artifact(path),
        name=f"{prefix}-{i:05d}",
        version="1",
        intended_use=("commercial", "internal", "research")[i % 3],
        actor=actor,
        license_expression=MODEL_LICENSES[i % len(MODEL_LICENSES)],
        datasets=[(datasets[i % len(datasets)], "train"), (datasets[(i + 1) % len(datasets)], "reference")],
        base_model=f"{prefix}-{i - 1:05d}@1" if i % 5 == 4 else None,
        task="classification",
        metrics={"accuracy": accuracy},
    ).version
    model_service.set_stage(session, mv=mv, stage="production", actor=actor)
    return mv


def served_model(
    db: Database, folder: Path, *, name: str = "scoring", features: int = 20
) -> tuple[list[str], str]:
    """A model ``name@1`` in production whose reference data has ``features`` float columns, and an
    editor's API key; the feature names and the key."""
    from governance.auth import service as auth_service

    folder.mkdir(parents=True, exist_ok=True)
    names = [f"f{i:02d}" for i in range(features)]
    path = folder / f"{name}-reference.csv"
    rows = [
        ",".join(f"{(r * 31 + c) % 97 / 7:.3f}" for c in range(features)) + f",{r % 2}" for r in range(50)
    ]
    path.write_text(",".join(names) + ",label\n" + "\n".join(rows) + "\n")
    model = folder / f"{name}.pt"
    model.write_bytes(f"weights of {name}".encode())
    with db.transaction() as session:
        dataset_service.register(
            session,
            storage=None,
            file=inspect_file(path),
            name=f"{name}-reference",
            version="1",
            license_expression="CC0-1.0",
            actor="fleet",
            label_column="label",
        )
        mv = model_service.register(
            session,
            storage=None,
            artifact=model_service.inspect_artifact(model),
            name=name,
            version="1",
            intended_use="internal",
            actor="fleet",
            license_expression="MIT",
            datasets=[(f"{name}-reference@1", "train"), (f"{name}-reference@1", "reference")],
        ).version
        model_service.set_stage(session, mv=mv, stage="production", actor="fleet")
        user = auth_service.create_user(session, name=f"{name}-editor", role="editor", actor="fleet")
        key = auth_service.create_key(session, user=user, actor="fleet").plaintext
    return names, key


def _has(db: Database, name: str) -> bool:
    with db.transaction() as session:
        try:
            dataset_service.get_dataset(session, name=name)
        except NotFound:
            return False
        return True


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    env: dict[str, str], port: int, *, timeout: float = 60.0, workers: int = 1
) -> subprocess.Popen[bytes]:
    """``govern serve`` on loopback ``port`` as its own process group, once it accepts connections."""
    command = ["serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        [sys.executable, "-c", "from governance.cli import main; main()", *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("the server did not start")
