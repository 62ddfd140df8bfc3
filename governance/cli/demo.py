"""``govern demo``: the platform on real data, from an empty directory.

Registers scikit-learn's breast-cancer data (saved to a CSV file), trains two small PyTorch
models on it, registers them — one on data whose license allows commercial use, one that also
uses a non-commercial partner set — checks both, promotes the compliant one and shows the
violating one being refused, then verifies the audit chain.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx
from governance.errors import ComplianceViolation

if TYPE_CHECKING:
    from governance.auth.principal import Principal

logger = logging.getLogger(__name__)

# The compliance act's two models: a small MLP trained by the platform's loop.
HIDDEN = (32,)
TRAIN_EPOCHS = 60
TRAIN_LR = 1e-2


def _write_datasets(folder: Path) -> tuple[Path, Path]:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    folder.mkdir(parents=True, exist_ok=True)
    frame = load_breast_cancer(as_frame=True).frame
    public = folder / "breast_cancer.csv"
    frame.to_csv(public, index=False)
    # A partner's augmentation set: jittered copies of the public rows, offered for research only.
    rng = np.random.default_rng(7)
    partner = frame.sample(n=300, random_state=7).reset_index(drop=True)
    features = partner.columns.drop("target")
    partner[features] = partner[features] * rng.normal(1.0, 0.02, size=(len(partner), len(features)))
    partner_path = folder / "partner_augmentation.csv"
    partner.to_csv(partner_path, index=False)
    return public, partner_path


def _train(csv_files: list[Path], out: Path, seed: int) -> dict[str, Any]:
    """A small MLP on the CSV files, trained by the platform's loop (:func:`trainer.loop.train`) and
    saved as a platform archive that takes raw features; returns its held-out metrics."""
    import pandas as pd

    from governance.data import read_frame
    from trainer.architectures import MLPConfig
    from trainer.config import TrainConfig
    from trainer.data import split_training_set, to_tensors
    from trainer.loop import train

    frame = pd.concat([read_frame(p) for p in csv_files], ignore_index=True)
    features = [c for c in frame.columns if c != "target"]
    splits = split_training_set(frame, None, label="target", features=features, seed=seed)
    architecture = MLPConfig(n_features=len(features), n_outputs=2, hidden=HIDDEN, standardize=True)
    config = TrainConfig(epochs=TRAIN_EPOCHS, lr=TRAIN_LR, seed=seed)
    result = train(architecture, to_tensors(splits), config, output_path=out)
    return {"accuracy": round(result.test_metrics["accuracy"], 4), "test_rows": len(splits.test)}


def _compliance_phase(cli: CliContext, workdir: Path, owner: Principal, say: Any) -> list[dict[str, Any]]:
    """Two models on breast-cancer data: one compliant and promoted, one refused for its NC data."""
    from governance.compliance import service as compliance_service
    from governance.dataset import service as dataset_service
    from governance.dataset.files import inspect_file
    from governance.mlmodel import environment
    from governance.mlmodel import service as model_service
    from governance.promotion import promote
    from governance.storage import LocalStorage

    db = cli.db()
    actor = cli.settings.actor
    storage = LocalStorage(cli.settings.storage_root)
    public_csv, partner_csv = _write_datasets(workdir)
    with db.transaction() as session:
        dataset_service.register(
            session,
            storage=storage,
            file=inspect_file(public_csv),
            name="breast-cancer",
            version="1",
            license_expression="CC-BY-4.0",
            label_column="target",
            actor=actor,
            source="UCI Breast Cancer Wisconsin (Diagnostic), via scikit-learn",
        )
        dataset_service.register(
            session,
            storage=storage,
            file=inspect_file(partner_csv),
            name="partner-augmentation",
            version="1",
            license_expression="CC-BY-NC-4.0",
            label_column="target",
            actor=actor,
            personal_data="pseudonymous",
            legal_basis="GDPR Art. 9(2)(j) scientific research",
            jurisdictions=["GDPR"],
            source="jittered copies of the public rows, shared by a research partner for non-commercial use",
        )
    say("registered breast-cancer@1 (CC-BY-4.0) and partner-augmentation@1 (CC-BY-NC-4.0)")
    deps = environment.capture_for_framework("pytorch")
    results: list[dict[str, Any]] = []
    plans = [
        ("cancer-screen", [public_csv], ["breast-cancer@1"]),
        ("cancer-screen-plus", [public_csv, partner_csv], ["breast-cancer@1", "partner-augmentation@1"]),
    ]
    for name, files, refs in plans:
        artifact_path = workdir / f"{name}.zip"
        metrics = _train(files, artifact_path, seed=0)
        with db.transaction() as session:
            mv = model_service.register(
                session,
                storage=storage,
                artifact=model_service.inspect_artifact(artifact_path),
                name=name,
                version="1",
                intended_use="commercial",
                risk_tier="low",
                actor=actor,
                framework="pytorch",
                task="classification",
                datasets=[(r, "train") for r in refs],
                dependencies=deps,
                metrics=metrics,
                seed=0,
                hyperparameters={"hidden": list(HIDDEN), "epochs": TRAIN_EPOCHS, "lr": TRAIN_LR},
            ).version
            report = compliance_service.check(session, mv=mv, actor=actor)
        outcome: dict[str, Any] = {"model": f"{name}@1", "metrics": metrics, "compliance": report.to_dict()}
        try:
            with db.transaction() as session:
                promote(
                    session,
                    mv=model_service.get_by_ref(session, f"{name}@1"),
                    stage="production",
                    principal=owner,
                )
            outcome["stage"] = "production"
            say(
                f"{name}@1 (accuracy {metrics['accuracy']}): compliant, promoted to production "
                f"with {len(report.obligations)} obligations"
            )
        except ComplianceViolation as refused:
            outcome["stage"] = "candidate"
            outcome["refused"] = str(refused)
            say(
                f"{name}@1 (accuracy {metrics['accuracy']}): VIOLATION {report.violations[0].message}; "
                f"path {compliance_service.format_path(report.violations[0].path)}; promotion refused"
            )
        results.append(outcome)
    return results


@main.command("demo")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path),
    default=Path("demo-data"),
    show_default=True,
    help="Where the demo writes its data and model files.",
)
@click.option(
    "--windows",
    type=click.IntRange(3, 48),
    default=6,
    show_default=True,
    help="Hourly production windows to stream (drift starts at the third).",
)
@json_option
@pass_ctx
def demo_command(cli: CliContext, workdir: Path, windows: int, as_json: bool) -> None:
    """Run the platform on real data: registry and compliance, then the whole monitoring loop."""
    import time

    from governance.audit import service as audit_service
    from governance.cli.access import approval_policy
    from governance.cli.progress import Status, follow
    from governance.cli.scenario import Scenario, demo_principal, run
    from governance.mlmodel import service as model_service
    from governance.report import render
    from governance.report import service as report_service

    started = time.perf_counter()
    status = Status.for_command(as_json)

    def say(message: str) -> None:
        if not as_json:
            status.clear()
            click.echo(f"[{time.perf_counter() - started:5.1f}s] {message}")
            status.update(f"[{time.perf_counter() - started:5.1f}s] working…")

    with follow(as_json, status=status):
        say("1. registry and license compliance (breast-cancer data)")
        owner = demo_principal(cli.db(), cli.settings)
        compliance = _compliance_phase(cli, workdir, owner, say)
        say(
            "2. the closed loop (digits): deploy, stream, monitor, alert, retrain, gate, promote; "
            "then the monitors follow the model to its new version"
        )
        loop = run(cli.db(), cli.settings, workdir, Scenario(windows=windows), say, principal=owner)
    with cli.db().transaction() as session:
        chain = audit_service.verify(session)
        live = model_service.list_versions(session, name="digits-classifier", stage="production")
        report_path = None
        if live:
            report_path = (workdir / f"report-{live[0].model.name}-{live[0].version}.html").absolute()
            report = report_service.build(session, mv=live[0], policy=approval_policy(cli))
            report_path.write_bytes(render.render(report, "html"))
            say(f"audit report of {live[0].ref} (EU AI Act Annex IV / SR 26-2 / SR 11-7): {report_path}")
    say(
        f"3. audit chain {'holds' if chain.ok else 'BROKEN'} over {chain.events} events (head {chain.head_hash})"
    )
    data = {
        "alerts": [{k: a[k] for k in ("monitor", "severity", "status")} for a in loop["alerts"]],
        "retrain_jobs": [{"id": j["id"], "status": j["status"]} for j in loop["retrain_jobs"]],
        "versions": loop["versions"],
        "after_promotion": [
            {k: r[k] for k in ("monitor", "model", "status", "window_start")} for r in loop["after_promotion"]
        ],
        "dashboard": None,
        "report": str(report_path) if report_path else None,
        "compliance": [
            {"model": c["model"], "stage": c["stage"], "violations": len(c["compliance"]["violations"])}
            for c in compliance
        ],
        "audit": chain.to_dict(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    versions = ", ".join(f"{v['name']}@{v['version']}: {v['stage']}" for v in loop["versions"])
    emit(data, as_json, f"done in {data['seconds']} s. {versions}")
