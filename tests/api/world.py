"""A registry with real data behind the API and dashboard tests: users and keys for every role,
a dataset, a high- and a medium-risk model version, drift and robustness monitor runs, an alert,
a retrain job."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from governance.auth import service as auth_service
from governance.dataset import service as dataset_service
from governance.dataset.files import inspect_file
from governance.db import Database
from governance.mlmodel import service as model_service
from governance.monitoring import service as monitoring_service
from governance.monitoring.schedule import Window
from governance.monitoring.service import CheckOutcome
from monitors.quality_io import file_report

ROLES = ("viewer", "editor", "approver", "admin")
START = datetime(2026, 11, 1, tzinfo=UTC)
DRIFT = (0.10, 0.20, 0.60)
EPSILONS = [0.0, 0.05, 0.1, 0.2]
WORST_CASE = [0.9561, 0.8123, 0.5211, 0.1342]
METRICS = {"accuracy": 0.9561, "f1": 0.9650, "roc_auc": 0.9912}


@dataclass
class World:
    keys: dict[str, str] = field(default_factory=dict)  # user name -> plaintext key
    high: str = "tumour@1"
    medium: str = "tumour@2"
    low: str = "tumour@3"

    def headers(self, user: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[user]}"} if user else {}


def _run(db: Database, monitor_id: int, index: int, outcome: CheckOutcome) -> None:
    end = START + timedelta(hours=index + 1)
    run_id = monitoring_service.claim(
        db, monitor_id=monitor_id, window=Window(end - timedelta(hours=1), end), worker="t"
    )
    assert run_id is not None
    with db.transaction() as session:
        monitoring_service.finish(session, run_id=run_id, outcome=outcome, duration_ms=5, actor="scheduler")


def build(db: Database, breast_cancer_csv: Path, models: list[Path]) -> World:
    world = World()
    with db.transaction() as session:
        for role in ROLES:
            user = auth_service.create_user(session, name=role, role=role, actor="setup")
            world.keys[role] = auth_service.create_key(session, user=user, actor="setup").plaintext
        second = auth_service.create_user(session, name="approver2", role="approver", actor="setup")
        world.keys["approver2"] = auth_service.create_key(session, user=second, actor="setup").plaintext
        dataset_service.register(
            session,
            storage=None,
            file=inspect_file(breast_cancer_csv),
            name="cancer",
            version="1",
            license_expression="CC-BY-4.0",
            actor="editor",
            label_column="target",
            source="UCI breast cancer Wisconsin (diagnostic)",
            personal_data="pseudonymous",
            legal_basis="GDPR Art. 9(2)(a) explicit consent",
            jurisdictions=["GDPR"],
            quality_report=file_report(breast_cancer_csv, label="target"),  # as registration stores it
        )
        for path, ref, risk in zip(
            models, (world.high, world.medium, world.low), ("high", "medium", "low"), strict=True
        ):
            name, version = ref.split("@")
            model_service.register(
                session,
                storage=None,
                artifact=model_service.inspect_artifact(path),
                name=name,
                version=version,
                intended_use="commercial",
                actor="editor",
                risk_tier=risk,
                datasets=[("cancer@1", "train")],
                task="classification",
                metrics=METRICS,
                description="Flags malignant tumours from biopsy features",
            )
        mv = model_service.get_by_ref(session, world.high)
        drift = monitoring_service.create(
            session,
            name="tumour-drift",
            mv=mv,
            kind="data_drift",
            schedule="every 1h",
            window="1h",
            actor="editor",
            start_at=START,
            thresholds={"share_drifted": 0.5},
            retrain_policy={"consecutive": 1, "cooldown_seconds": 0},
        )
        robust = monitoring_service.create(
            session,
            name="tumour-robust",
            mv=mv,
            kind="robustness",
            schedule="every 1h",
            window="1h",
            actor="editor",
            start_at=START,
        )
        drift_id, robust_id = drift.id, robust.id
    for i, share in enumerate(DRIFT):
        status = "breach" if share > 0.5 else "ok"
        _run(
            db,
            drift_id,
            i,
            CheckOutcome(
                status,
                {"share_drifted": share, "drifted_columns": int(share * 30)},
                {"share_drifted": 0.5},
                f"{share:.0%} of columns drifted",
            ),
        )
    _run(
        db,
        robust_id,
        0,
        CheckOutcome(
            "warning",
            {"epsilons": EPSILONS, "worst_case": WORST_CASE, "clean_accuracy": 0.9561},
            {"worst_case_at_0.1": 0.6},
            "worst-case accuracy 0.52 at ε=0.1",
        ),
    )
    return world
