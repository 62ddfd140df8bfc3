"""Compose a model version's audit report from what the platform has recorded.

Read-only: it never writes (the compliance check runs without an actor, so nothing is audited)
and it imports nothing from ``monitors/`` or ``trainer/``; robustness and drift come from the
stored monitor runs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.approval import service as approval_service
from governance.approval.service import ApprovalPolicy
from governance.audit import service as audit_service
from governance.auth import principal as principals
from governance.changeplan import service as changeplan_service
from governance.compliance import service as compliance_service
from governance.dataset.models import DatasetVersion
from governance.db import utcnow
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion, StageTransition
from governance.monitoring import service as monitoring_service
from governance.monitoring.models import Alert, Monitor, MonitorRun, RetrainJob
from governance.policy import service as policy_service
from governance.production.service import feature_schema
from governance.report import mapping

DRIFT_KINDS = ("data_drift", "concept_drift", "model_drift", "attribution_drift")
QUALITY_KINDS = ("quality", "consistency")
SECTIONS = (
    ("description", "Description, intended use and risk tier"),
    ("lineage", "Lineage, licenses, obligations and findings"),
    ("data_governance", "Data governance: datasets, personal data and legal bases"),
    ("data_quality", "Data-quality findings"),
    ("evaluation", "Evaluation metrics"),
    ("robustness", "Robustness curve"),
    ("monitoring", "Post-market monitoring: drift and alert history"),
    ("retraining", "Retraining history"),
    ("lifecycle", "Lifecycle changes (stage history)"),
    ("approvals", "Approvals"),
    ("audit", "Audit chain"),
)
MAX_RUNS_PER_MONITOR = 200


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _description(mv: ModelVersion) -> dict[str, Any]:
    outputs = f"{mv.task or 'predictions'}"
    classes = mv.hyperparameters.get("classes") if mv.hyperparameters else None
    if classes:
        outputs += f" over classes {classes}"
    return {
        "model": mv.ref,
        "name": mv.model.name,
        "version": mv.version,
        "description": mv.description,
        "intended_use": mv.intended_use,
        "intended_purpose": mv.intended_purpose,
        "risk_tier": mv.risk_tier,
        "risk_assessed": mv.risk_assessed,
        "risk_reason": mv.risk_reason,
        "stage": mv.stage,
        "framework": mv.framework,
        "task": mv.task,
        "outputs": outputs,
        "owner": mv.registered_by,
        "registered_at": mv.created_at.isoformat(),
        "artifact_sha256": mv.sha256,
        "artifact_size_bytes": mv.size_bytes,
        "license": mv.license_expression,
        "base_model": mv.base_model.ref if mv.base_model is not None else None,
        "hyperparameters": mv.hyperparameters,
        "seed": mv.seed,
        "mlflow_run_id": mv.mlflow_run_id,
        "dependencies": len(mv.dependencies or []),
    }


def _all_datasets(mv: ModelVersion) -> list[tuple[DatasetVersion, str, str]]:
    """Every dataset upstream of ``mv``: (version, role, whose) for its own, its parents', its bases'."""
    found: dict[int, tuple[DatasetVersion, str, str]] = {}

    def visit(dv: DatasetVersion, role: str, whose: str) -> None:
        if dv.id in found:
            return
        found[dv.id] = (dv, role, whose)
        for parent in dv.parents:
            visit(parent, "source", dv.ref)

    for node in [mv, *model_service.base_chain(mv)]:
        for link in node.datasets:
            visit(link.dataset_version, link.role, node.ref)
    return list(found.values())


def _lineage(mv: ModelVersion, compliance: dict[str, Any]) -> dict[str, Any]:
    licenses: dict[str, list[str]] = {}
    for dv, _role, _whose in _all_datasets(mv):
        licenses.setdefault(dv.license_expression, []).append(dv.ref)
    for node in [mv, *model_service.base_chain(mv)]:
        if node.license_expression:
            licenses.setdefault(node.license_expression, []).append(node.ref)
    return {
        "tree": model_service.lineage(mv),
        "licenses": [{"license": k, "used_by": v} for k, v in sorted(licenses.items())],
        "compliant": compliance["compliant"],
        "violations": compliance["violations"],
        "obligations": compliance["obligations"],
        "warnings": compliance["warnings"],
        "attributions": compliance["attributions"],
    }


def _data_governance(mv: ModelVersion) -> dict[str, Any]:
    rows = []
    for dv, role, whose in _all_datasets(mv):
        rows.append(
            {
                "dataset": dv.ref,
                "role": role,
                "of": whose,
                "rows": dv.rows,
                "license": dv.license_expression,
                "source": dv.source,
                "personal_data": dv.personal_data,
                "legal_basis": dv.legal_basis,
                "jurisdictions": list(dv.jurisdictions or []),
                "sha256": dv.sha256,
            }
        )
    schema = feature_schema(mv)
    return {
        "datasets": rows,
        "personal_data": [r for r in rows if r["personal_data"] != "none"],
        "features": list(schema) if schema else [],
    }


def _runs(session: Session, monitor: Monitor) -> list[MonitorRun]:
    return list(reversed(monitoring_service.runs(session, monitor=monitor, limit=MAX_RUNS_PER_MONITOR)))


def _run_row(run: MonitorRun) -> dict[str, Any]:
    return {
        "window_end": run.window_end.isoformat(),
        "status": run.status,
        "metrics": _numeric(run.metrics),
        "summary": (run.details or {}).get("summary") or run.error,
    }


def _curve(run: MonitorRun) -> dict[str, Any] | None:
    for source in (run.metrics or {}, run.details or {}):
        eps, worst = source.get("epsilons"), source.get("worst_case")
        if isinstance(eps, list) and isinstance(worst, list) and eps and len(eps) == len(worst):
            return {
                "window_end": run.window_end.isoformat(),
                "status": run.status,
                "epsilons": [float(e) for e in eps],
                "worst_case": [float(w) for w in worst],
            }
    return None


def _monitoring(session: Session, mv: ModelVersion, monitors: list[Monitor]) -> dict[str, Any]:
    drift = []
    for monitor in monitors:
        if monitor.kind in DRIFT_KINDS:
            drift.append(
                {
                    "monitor": monitor.name,
                    "kind": monitor.kind,
                    "thresholds": monitor.thresholds,
                    "runs": [_run_row(r) for r in _runs(session, monitor) if r.status != "running"],
                }
            )
    alerts = session.scalars(
        select(Alert).where(Alert.monitor_id.in_([m.id for m in monitors])).order_by(Alert.id)
    ).all()
    return {
        "monitors": [
            {"name": m.name, "kind": m.kind, "schedule": m.schedule, "thresholds": m.thresholds}
            for m in monitors
        ],
        "drift": drift,
        "alerts": [
            {
                "id": a.id,
                "monitor": a.monitor.name,
                "status": a.status,
                "severity": a.severity,
                "message": a.message,
                "breaches": a.breaches,
                "opened_at": a.opened_at.isoformat(),
                "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
            }
            for a in alerts
        ],
    }


def _data_quality(session: Session, mv: ModelVersion, monitors: list[Monitor]) -> dict[str, Any]:
    findings: list[dict[str, Any]] = []
    for dv, _role, _whose in _all_datasets(mv):
        if dv.quality_report:
            report = dv.quality_report
            findings.append(
                {
                    "source": dv.ref,
                    "kind": "dataset",
                    "status": report.get("status"),
                    "summary": report.get("summary"),
                    "report": report,
                }
            )
    for monitor in monitors:
        if monitor.kind in QUALITY_KINDS:
            for run in _runs(session, monitor):
                if run.status in ("warning", "breach", "error"):
                    findings.append(
                        {
                            "source": monitor.name,
                            "kind": monitor.kind,
                            "status": run.status,
                            "window_end": run.window_end.isoformat(),
                            "summary": (run.details or {}).get("summary") or run.error,
                            "metrics": _numeric(run.metrics),
                        }
                    )
    return {"findings": findings}


def _retraining(session: Session, mv: ModelVersion) -> dict[str, Any]:
    ids = [v.id for v in mv.model.versions]
    jobs = session.scalars(
        select(RetrainJob).where(RetrainJob.model_version_id.in_(ids)).order_by(RetrainJob.id)
    ).all()
    return {"jobs": [j.to_dict() for j in jobs]}


def _change_plan(session: Session, mv: ModelVersion) -> dict[str, Any]:
    """The model's predetermined change plan (EU AI Act Annex IV 2(f)), its versions, and whether
    each retrain stayed inside it."""
    plans = changeplan_service.history(session, model=mv.model)
    own = changeplan_service.check_of(session, mv=mv)
    return {
        "plan": plans[-1].to_dict() if plans else None,
        "versions": [
            {
                "version": p.version,
                "created_by": p.created_by,
                "created_at": p.created_at.isoformat(),
                "comment": p.comment,
            }
            for p in plans
        ],
        "checks": [c.to_dict() for c in changeplan_service.checks(session, model=mv.model)],
        "this_version": own.to_dict() if own is not None else None,
    }


def _lifecycle(session: Session, mv: ModelVersion) -> dict[str, Any]:
    transitions = session.scalars(
        select(StageTransition)
        .where(StageTransition.model_version_id == mv.id)
        .order_by(StageTransition.at, StageTransition.id)
    ).all()
    return {
        "stage_history": [
            {
                "from": t.from_stage,
                "to": t.to_stage,
                "actor": t.actor,
                "reason": t.reason,
                "at": t.at.isoformat(),
            }
            for t in transitions
        ],
        "versions": [
            {"version": v.ref, "stage": v.stage, "registered_at": v.created_at.isoformat()}
            for v in mv.model.versions
        ],
    }


def _approvals(session: Session, mv: ModelVersion, policy: ApprovalPolicy) -> dict[str, Any]:
    requests = approval_service.list_requests(session, model_version_id=mv.id)
    in_force = policy_service.current(session, seed=policy.to_document())
    levels = policy_service.document_of(in_force).tier(mv.risk_tier).approvals
    required = len(levels)
    latest = requests[0] if requests else None
    if required == 0:
        status = f"not required ({mv.risk_tier} risk)"
    elif latest is None:
        status = "not requested"
    else:
        status = f"{latest.status} ({len(latest.approvers())} of {latest.required})"
    # who approved the latest request, each with their role and how their identity was verified
    decided = latest.approvals if latest is not None else []
    approvers = [
        {
            "request": a.request_id,
            "approver": a.approver,
            "role": a.approver_role,
            "verification": a.verification,
            "label": principals.describe(a.approver, a.approver_role, a.verification),
        }
        for a in decided
        if a.decision == "approve"
    ]
    passed = session.scalar(
        select(StageTransition.policy_version)
        .where(StageTransition.model_version_id == mv.id, StageTransition.to_stage == "production")
        .order_by(StageTransition.id.desc())
        .limit(1)
    )
    verdict = policy_service.evaluate(session, mv=mv, policy=in_force)
    return {
        "required": required,
        "levels": list(levels),
        "status": status,
        "approvers": approvers,
        "requests": [r.to_dict() for r in reversed(requests)],
        "policy": {
            "version_in_force": in_force.version,
            "version_passed": passed,
            "requirements": [r.to_dict() for r in verdict.requirements],
        },
    }


def _audit(session: Session, mv: ModelVersion) -> dict[str, Any]:
    verification = audit_service.verify(session)
    events = audit_service.list_events(session, entity_id=mv.ref, limit=500, newest_first=False)
    return {
        "verified": verification.ok,
        "events": verification.events,
        "head_hash": verification.head_hash,
        "reason": verification.reason,
        "model_events": [
            {
                "id": e.id,
                "at": e.at.isoformat() if e.at else None,
                "actor": e.actor,
                "actor_verification": e.changes.get("actor_verification")
                if isinstance(e.changes, dict)
                else None,
                "action": e.action,
                "hash": e.hash,
            }
            for e in events
        ],
    }


def build(session: Session, *, mv: ModelVersion, policy: ApprovalPolicy | None = None) -> dict[str, Any]:
    """The whole report of ``mv`` as a JSON-ready dict, one key per section plus the mappings."""
    monitors = monitoring_service.list_monitors(session, model_version_id=mv.id)
    compliance = compliance_service.check(session, mv=mv).to_dict()
    robustness_runs = [
        curve
        for monitor in monitors
        if monitor.kind == "robustness"
        for curve in (_curve(r) for r in _runs(session, monitor))
        if curve is not None
    ]
    report: dict[str, Any] = {
        "report": {
            "model": mv.ref,
            "generated_at": utcnow().isoformat(),
            "sections": [{"key": k, "title": t} for k, t in SECTIONS],
        },
        "description": _description(mv),
        "lineage": _lineage(mv, compliance),
        "data_governance": _data_governance(mv),
        "data_quality": _data_quality(session, mv, monitors),
        "evaluation": {"metrics": mv.metrics or {}},
        "robustness": {"curves": robustness_runs, "latest": robustness_runs[-1] if robustness_runs else None},
        "monitoring": _monitoring(session, mv, monitors),
        "retraining": {**_retraining(session, mv), "change_plan": _change_plan(session, mv)},
        "lifecycle": _lifecycle(session, mv),
        "approvals": _approvals(session, mv, policy or ApprovalPolicy()),
        "audit": _audit(session, mv),
    }
    report["mapping"] = {
        "eu_ai_act_annex_iv": mapping.annex_iv_table(),
        "sr_11_7": mapping.sr_11_7_inventory(report),
    }
    return report
