"""What the pages show, read through the governance services (no writes)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from governance.approval import service as approval_service
from governance.approval.service import ApprovalPolicy
from governance.compliance import service as compliance_service
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion
from governance.monitoring import service as monitoring_service
from governance.monitoring.models import Alert, Monitor, MonitorRun, RetrainJob
from governance.policy import service as policy_service

DRIFT_KINDS = ("data_drift", "concept_drift", "model_drift", "attribution_drift")
FINISHED = ("ok", "warning", "breach", "error")


def _latest(session: Session, monitor: Monitor, mv_id: int) -> MonitorRun | None:
    """The monitor's latest finished run of version ``mv_id`` (a following monitor judges several)."""
    return session.scalar(
        select(MonitorRun)
        .where(
            MonitorRun.monitor_id == monitor.id,
            MonitorRun.model_version_id == mv_id,
            MonitorRun.status.in_(FINISHED),
        )
        .order_by(MonitorRun.window_start.desc())
        .limit(1)
    )


def _worst(statuses: list[str]) -> str | None:
    order = ("error", "breach", "warning", "ok")
    for status in order:
        if status in statuses:
            return status
    return None


def approval_status(session: Session, mv: ModelVersion, policy: ApprovalPolicy) -> str:
    _, levels = policy_service.levels_for(session, mv=mv, seed=policy.to_document())
    if not levels:
        return "not required"
    latest = approval_service.latest_for(session, mv=mv)
    if latest is None:
        return "not requested"
    return f"{latest.status} {len(latest.approvers())}/{latest.required}"


def inventory(session: Session, policy: ApprovalPolicy) -> list[dict[str, Any]]:
    rows = []
    open_alerts = dict(
        session.execute(
            select(Alert.model_version_id, func.count(Alert.id))
            .where(Alert.status.in_(("open", "acknowledged")))
            .group_by(Alert.model_version_id)
        ).all()
    )
    for mv in model_service.list_versions(session):
        report = compliance_service.check(session, mv=mv)
        statuses: dict[str, list[str]] = {"drift": [], "quality": [], "robustness": []}
        for monitor in monitoring_service.list_monitors(session, model_version_id=mv.id):
            run = _latest(session, monitor, mv.id)
            if run is None:
                continue
            group = "drift" if monitor.kind in DRIFT_KINDS else monitor.kind
            statuses.setdefault(group, []).append(run.status)
        rows.append(
            {
                "ref": mv.ref,
                "name": mv.model.name,
                "version": mv.version,
                "stage": mv.stage,
                "risk_tier": mv.risk_tier,
                "intended_use": mv.intended_use,
                "licenses": "violations" if report.violations else ("warnings" if report.warnings else "ok"),
                "violations": len(report.violations),
                "approval": approval_status(session, mv, policy),
                "drift": _worst(statuses["drift"]),
                "quality": _worst(statuses["quality"] + statuses.get("consistency", [])),
                "robustness": _worst(statuses["robustness"]),
                "open_alerts": int(open_alerts.get(mv.id, 0)),
            }
        )
    return rows


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def model_page(session: Session, mv: ModelVersion, policy: ApprovalPolicy) -> dict[str, Any]:
    monitors = monitoring_service.list_monitors(session, model_version_id=mv.id)
    drift_series = []
    robustness = None
    runs_table = []
    for monitor in monitors:
        runs = list(
            reversed(monitoring_service.runs(session, monitor=monitor, limit=200, model_version_id=mv.id))
        )
        finished = [r for r in runs if r.status in FINISHED]
        for r in finished[-20:]:
            runs_table.append(
                {
                    "id": r.id,
                    "monitor": monitor.name,
                    "kind": monitor.kind,
                    "model": mv.ref,
                    "window_end": r.window_end.isoformat(),
                    "status": r.status,
                    "summary": (r.details or {}).get("summary") or r.error,
                    "report": bool((r.details or {}).get("report_path")),
                }
            )
        if monitor.kind in DRIFT_KINDS:
            names = sorted({k for r in finished for k in _numeric(r.metrics or {})})
            drift_series.append(
                {
                    "monitor": monitor.name,
                    "kind": monitor.kind,
                    "labels": [r.window_end.strftime("%Y-%m-%d %H:%M") for r in finished],
                    "series": {n: [_numeric(r.metrics or {}).get(n) for r in finished] for n in names},
                }
            )
        if monitor.kind == "robustness":
            for r in reversed(finished):
                for source in (r.metrics or {}, r.details or {}):
                    if isinstance(source.get("epsilons"), list) and isinstance(
                        source.get("worst_case"), list
                    ):
                        robustness = {
                            "monitor": monitor.name,
                            "window_end": r.window_end.isoformat(),
                            "epsilons": source["epsilons"],
                            "worst_case": source["worst_case"],
                        }
                        break
                if robustness:
                    break
    jobs = session.scalars(
        select(RetrainJob)
        .where(RetrainJob.model_version_id.in_([v.id for v in mv.model.versions]))
        .order_by(RetrainJob.id.desc())
    ).all()
    alerts = session.scalars(
        select(Alert).where(Alert.model_version_id == mv.id).order_by(Alert.id.desc())
    ).all()
    return {
        "mv": mv.to_dict(),
        "compliance": compliance_service.check(session, mv=mv).to_dict(),
        "lineage": model_service.lineage(mv),
        "approval": approval_status(session, mv, policy),
        "monitors": [m.to_dict() for m in monitors],
        "drift": drift_series,
        "robustness": robustness,
        "runs": list(reversed(runs_table)),
        "jobs": [j.to_dict() for j in jobs],
        "alerts": [a.to_dict() for a in alerts],
        "history": [
            {
                "version": t.model_version.ref,
                "from": t.from_stage,
                "to": t.to_stage,
                "actor": t.actor,
                "at": t.at,
            }
            for t in model_service.history(session, name=mv.model.name)
        ],
    }
