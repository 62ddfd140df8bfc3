"""The technical file's sections that are read from the registry rather than declared in a form.

Each section says where its content came from. Nothing is invented: what the registry does not
hold is left out, and the renderers print "not recorded" for a section with no evidence (see
``mapping.evidence``). Limitations and oversight measures are *derived* from records (the intended
use, license obligations, legal bases, policy levels, channels); each item names its source.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.mlmodel.models import ModelVersion
from governance.monitoring.models import Alert, AlertDelivery, Monitor, MonitorRun, RetrainJob
from governance.policy.models import RobustnessRecord

HIGH_SEVERITIES = ("high", "critical")
FAIRNESS_WORDS = re.compile(
    r"fairness|parity|disparate|equal(ized|ised)?_odds|equal_opportunity|group_gap|bias", re.IGNORECASE
)


def jobs_of_model(session: Session, mv: ModelVersion) -> list[RetrainJob]:
    ids = [v.id for v in mv.model.versions]
    return list(
        session.scalars(
            select(RetrainJob).where(RetrainJob.model_version_id.in_(ids)).order_by(RetrainJob.id)
        )
    )


def producing_job(jobs: list[RetrainJob], mv: ModelVersion) -> RetrainJob | None:
    """The retrain job whose candidate is ``mv`` (None for a version registered by hand)."""
    for job in jobs:
        if (job.result or {}).get("candidate") == mv.ref:
            return job
    return None


def gate_rows(job: RetrainJob) -> list[dict[str, Any]]:
    """The job's gate outcomes as stored in its result, with the numbers an auditor asks for."""
    rows = []
    for gate in (job.result or {}).get("gates") or []:
        if not isinstance(gate, dict):
            continue
        metrics = gate.get("metrics") or {}
        rows.append(
            {
                "job": job.id,
                "gate": gate.get("name"),
                "passed": bool(gate.get("passed")),
                "detail": gate.get("detail"),
                "metrics": {k: v for k, v in metrics.items() if isinstance(v, int | float | str | bool)},
            }
        )
    return rows


def retraining(session: Session, mv: ModelVersion, jobs: list[RetrainJob]) -> dict[str, Any]:
    out = []
    for job in jobs:
        result = job.result or {}
        out.append(
            {
                **job.to_dict(),
                "candidate": result.get("candidate"),
                "stage": result.get("stage"),
                "champion": result.get("champion"),
                "training_set": result.get("training_set"),
                "passed": result.get("passed"),
                "gates": gate_rows(job),
                "mlflow_run_id": result.get("mlflow_run_id"),
            }
        )
    return {"jobs": out, "produced_by": next((j["id"] for j in out if j["candidate"] == mv.ref), None)}


def _how_measured(name: str, mv: ModelVersion, job: RetrainJob | None) -> str:
    if job is not None:
        split = (job.result or {}).get("training_set") or "the training data"
        if name.startswith("test_"):
            return (
                f"measured by the platform on the held-out test rows of {split} that neither model "
                f"trained on (retrain job {job.id})"
            )
        if name.startswith("val_"):
            return f"measured by the platform on the validation split of {split} (retrain job {job.id})"
    return f"declared by {mv.registered_by} at registration; not measured by the platform"


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, int | float) else str(value)


def declared_levels(session: Session, mv: ModelVersion, job: RetrainJob | None) -> dict[str, Any]:
    """Art. 15: accuracy levels with how each was measured, and every robustness measurement."""
    accuracy = [
        {"metric": k, "value": v, "how": _how_measured(k, mv, job)}
        for k, v in (mv.metrics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    robustness: list[dict[str, Any]] = []
    for record in session.scalars(
        select(RobustnessRecord)
        .where(RobustnessRecord.model_version_id == mv.id)
        .order_by(RobustnessRecord.at)
    ):
        robustness.append(
            {
                "epsilon": record.epsilon,
                "worst_case": record.robust_accuracy,
                "clean": record.clean_accuracy,
                "how": f"{record.source}, recorded by {record.recorded_by}",
                "at": record.at.isoformat(),
            }
        )
    if job is not None:
        for gate in gate_rows(job):
            m = gate["metrics"]
            known = {(r["epsilon"], round(float(r["worst_case"]), 6)) for r in robustness}
            if (
                gate["gate"] == "robustness"
                and isinstance(m.get("challenger_worst_case"), int | float)
                and (m.get("epsilon"), round(float(m["challenger_worst_case"]), 6)) not in known
            ):
                robustness.append(
                    {
                        "epsilon": m.get("epsilon"),
                        "worst_case": m["challenger_worst_case"],
                        "clean": None,
                        "how": f"retrain job {job.id}'s robustness gate on {m.get('rows', 'held-out')} rows "
                        f"(champion {_short(m.get('champion_worst_case'))})",
                        "at": job.finished_at.isoformat() if job.finished_at else None,
                    }
                )
    return {"accuracy": accuracy, "robustness": robustness}


def fairness(session: Session, mv: ModelVersion, monitors: list[Monitor]) -> dict[str, Any]:
    """Fairness figures wherever the registry holds them: the version's metrics, monitor runs."""
    results = [
        {"source": f"{mv.ref} metrics", "metric": k, "value": v, "at": mv.created_at.isoformat()}
        for k, v in (mv.metrics or {}).items()
        if FAIRNESS_WORDS.search(k)
    ]
    for monitor in monitors:
        runs = session.scalars(
            select(MonitorRun).where(MonitorRun.monitor_id == monitor.id).order_by(MonitorRun.window_end)
        )
        for run in runs:
            for k, v in (run.metrics or {}).items():
                if FAIRNESS_WORDS.search(k) or FAIRNESS_WORDS.search(monitor.kind):
                    results.append(
                        {
                            "source": f"monitor {monitor.name}",
                            "metric": k,
                            "value": v,
                            "at": run.window_end.isoformat(),
                        }
                    )
    return {"results": results}


def describe_channel(channel: Any) -> str:
    """A channel by its type and recipients, never its secret or a URL's credentials or query."""
    if not isinstance(channel, dict):
        return "channel"
    kind = str(channel.get("type", "channel"))
    if kind == "webhook" and channel.get("url"):
        parts = urlsplit(str(channel["url"]))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        signed = ", signed" if channel.get("secret_fingerprint") else ""
        return f"webhook {parts.scheme}://{host}{port}{parts.path}{signed}"
    if kind == "email":
        to = channel.get("to")
        names = to if isinstance(to, list) else [to] if to else []
        return "email to " + ", ".join(str(n) for n in names)
    return kind


def monitoring_plan(monitors: list[Monitor]) -> dict[str, Any]:
    return {
        "monitors": [
            {
                "name": m.name,
                "kind": m.kind,
                "schedule": m.schedule,
                "window_seconds": m.window_seconds,
                "thresholds": m.thresholds,
                "channels": [describe_channel(c) for c in m.channels or []],
                "retrain_policy": m.retrain_policy,
                "enabled": m.enabled,
                "since": m.start_at.isoformat(),
                "created_by": m.created_by,
            }
            for m in monitors
        ]
    }


def incidents(session: Session, monitors: list[Monitor], jobs: list[RetrainJob]) -> dict[str, Any]:
    """Art. 73: high-severity alerts with how they were handled (acknowledged, retrained, resolved)."""
    if not monitors:
        return {"kept": False, "incidents": []}
    alerts = session.scalars(
        select(Alert)
        .where(Alert.monitor_id.in_([m.id for m in monitors]), Alert.severity.in_(HIGH_SEVERITIES))
        .order_by(Alert.opened_at, Alert.id)
    ).all()
    out = []
    for alert in alerts:
        deliveries = session.scalars(
            select(AlertDelivery).where(AlertDelivery.alert_id == alert.id).order_by(AlertDelivery.id)
        ).all()
        handling = []
        if alert.acknowledged_by:
            handling.append(f"acknowledged by {alert.acknowledged_by}")
        for job in jobs:
            if job.monitor_id == alert.monitor_id and (
                job.window_start is None or alert.window_start <= job.window_start <= alert.window_end
            ):
                result = job.result or {}
                text = f"retrain job {job.id} {job.status}"
                if result.get("candidate"):
                    text += f": {result['candidate']} now {result.get('stage')}"
                handling.append(text)
        if alert.resolved_at is not None:
            handling.append(f"resolved by {alert.resolved_by or '-'} at {alert.resolved_at.isoformat()}")
        out.append(
            {
                "id": alert.id,
                "monitor": alert.monitor.name,
                "severity": alert.severity,
                "status": alert.status,
                "opened_at": alert.opened_at.isoformat(),
                "window": f"{alert.window_start.isoformat()} to {alert.window_end.isoformat()}",
                "message": alert.message,
                "notified": sorted({f"{d.channel} ({d.status})" for d in deliveries}),
                "handling": handling,
            }
        )
    return {"kept": True, "incidents": out}
