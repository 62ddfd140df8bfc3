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
from governance.report import accountability, explanations, mapping, technical
from governance.report.mapping import NOT_RECORDED
from governance.review import evidence as review_evidence

DRIFT_KINDS = ("data_drift", "concept_drift", "model_drift", "attribution_drift")
QUALITY_KINDS = ("quality", "consistency")
SECTIONS = (
    ("description", "General description, intended purpose and risk tier"),
    ("limitations", "Limitations and out-of-scope uses"),
    ("oversight", "Human oversight measures (Art. 14)"),
    ("lineage", "Lineage, licenses, obligations and findings"),
    ("data_governance", "Data governance: datasets, hashes, personal data and legal bases"),
    ("data_quality", "Data-quality findings"),
    ("evaluation", "Declared accuracy and robustness levels (Art. 15)"),
    ("fairness", "Fairness results"),
    ("robustness", "Robustness history and evidence"),
    (explanations.KEY, explanations.TITLE),
    ("monitoring", "Post-market monitoring: drift and alert history"),
    ("monitoring_plan", "Post-market monitoring plan (Art. 72)"),
    # the change plan: the retrain policy as stored data (governance/changeplan), see _change_plan
    ("change_plan", "Predetermined change plan"),
    ("incidents", "Incidents (Art. 73): high-severity alerts and their handling"),
    ("retraining", "Retraining history and gate evidence"),
    ("lifecycle", "Lifecycle changes (stage history)"),
    ("responsibilities", "Owner, developer, validator and approvers"),
    ("approvals", "Approvals and promotion policy"),
    ("audit", "Audit chain"),
    ("mapping", "Mapping to EU AI Act Annex IV, SR 26-2 and SR 11-7"),
    ("signoff", "Sign-off"),
)
MAX_RUNS_PER_MONITOR = 200


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in (metrics or {}).items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _purpose(mv: ModelVersion) -> tuple[str | None, str | None]:
    """The declared purpose, or the one of the version it was retrained from or fine-tuned on."""
    if mv.intended_purpose:
        return mv.intended_purpose, "declared at registration"
    earlier = (mv.hyperparameters or {}).get("retrained_from")
    chain = [v for v in mv.model.versions if v.ref == earlier] + model_service.base_chain(mv)
    for other in chain:
        if other.intended_purpose:
            return other.intended_purpose, f"inherited from {other.ref}"
    return None, None


def _description(mv: ModelVersion) -> dict[str, Any]:
    purpose, source = _purpose(mv)
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
        "intended_purpose": purpose,
        "intended_purpose_source": source,
        "risk_tier": mv.risk_tier,
        "risk_assessed": mv.risk_assessed,
        "risk_reason": mv.risk_reason,
        "stage": mv.stage,
        "framework": mv.framework,
        "task": mv.task,
        "outputs": outputs,
        "registered_by": mv.registered_by,
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
        "attributions": _unique(compliance["attributions"]),
    }


def _unique(attributions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per (ref, kind): a package under several licenses (torch) lists them together."""
    merged: dict[tuple[Any, Any], dict[str, Any]] = {}
    for a in attributions:
        line = merged.setdefault((a.get("ref"), a.get("kind")), {**a, "licenses": [], "urls": []})
        if a.get("license") not in line["licenses"]:
            line["licenses"].append(a.get("license"))
        if a.get("url") and a["url"] not in line["urls"]:
            line["urls"].append(a["url"])
    for line in merged.values():
        line["license"] = ", ".join(str(x) for x in line["licenses"])
        line["url"] = " ".join(line["urls"]) or None
    return list(merged.values())


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


def _change_plan(session: Session, mv: ModelVersion) -> dict[str, Any]:
    """The model's predetermined change plan (EU AI Act Annex IV 2(f)), its versions, and whether
    each retrain stayed inside it; ``items`` is the section's text, ``recorded`` whether one exists."""
    plans = changeplan_service.history(session, model=mv.model)
    own = changeplan_service.check_of(session, mv=mv)
    checks = [c.to_dict() for c in changeplan_service.checks(session, model=mv.model)]
    plan = plans[-1].to_dict() if plans else None
    return {
        "recorded": plan is not None,
        "items": _change_plan_items(plan, len(plans), checks),
        "plan": plan,
        "versions": [
            {
                "version": p.version,
                "created_by": p.created_by,
                "created_at": p.created_at.isoformat(),
                "comment": p.comment,
            }
            for p in plans
        ],
        "checks": checks,
        "this_version": own.to_dict() if own is not None else None,
    }


def _change_plan_items(plan: dict[str, Any] | None, versions: int, checks: list[dict[str, Any]]) -> list[str]:
    if plan is None:
        return []
    data, bounds = plan["training_data"], plan["hyperparameters"]
    window = data.get("window_seconds")
    reference = (
        f"plus the reference dataset {data.get('reference_dataset') or '-'}"
        if data.get("reference")
        else "without the reference dataset"
    )
    gates = "; ".join(
        f"{name} " + ", ".join(f"{k}={v}" for k, v in gate.items()) for name, gate in plan["gates"].items()
    )
    items = [
        f"Version {plan['version']} in force ({versions} version(s)), set by {plan['created_by']} "
        f"on {plan['created_at']}" + (f": {plan['comment']}" if plan.get("comment") else "") + ".",
        "Training data: labelled production records "
        + (f"within {window} s" if window else "of any time")
        + f" before the end of the breaching window, {reference}.",
        f"Hyperparameter bounds: at most {bounds['max_epochs']} epochs; adversarial training "
        + ("allowed." if bounds.get("adversarial") else "not allowed."),
        f"Gates: {gates or 'none'}.",
    ]
    for c in checks:
        verdict = "inside the plan" if c["within"] else "outside the plan, so it needs approval"
        deviations = "; ".join(c["deviations"]) if c.get("deviations") else ""
        items.append(
            f"{c['model']} (retrain job {c.get('retrain_job') or '-'}) under plan version "
            f"{c['plan_version']}: {verdict}" + (f" ({deviations})" if deviations else "") + "."
        )
    return items


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


def _robustness(
    curves: list[dict[str, Any]], produced_by: RetrainJob | None, assessments: list[dict[str, Any]]
) -> dict[str, Any]:
    gates = [
        g for g in (technical.gate_rows(produced_by) if produced_by else []) if g["gate"] == "robustness"
    ]
    return {
        "curves": curves,
        "latest": curves[-1] if curves else None,
        "gates": gates,
        "assessments": assessments,
    }


def _oversight(
    session: Session, mv: ModelVersion, levels: list[str], requests: list[Any], monitors: list[Monitor]
) -> dict[str, Any]:
    """Art. 14: the measures the registry enforces, and the human review of production decisions
    (``review``: share sampled, reviewed, agreement, reviewers with roles, open items)."""
    found = accountability.oversight(mv, levels, requests, monitors)
    review = review_evidence.oversight(session, mv=mv)
    found["measures"].append(
        {
            "measure": review_evidence.summary_line(review)
            if review["recorded"]
            else f"human review of production decisions: {NOT_RECORDED}",
            "source": "review queue",
            "recorded": review["recorded"],
        }
    )
    found["review"] = review
    return found


def build(session: Session, *, mv: ModelVersion, policy: ApprovalPolicy | None = None) -> dict[str, Any]:
    """The whole report of ``mv`` as a JSON-ready dict, one key per section.

    ``report.evidence`` says per section whether the registry holds anything for it; the mapping
    rows are answered only by sections with evidence."""
    # monitors watch a model, not a version: those set up on an earlier version watch this one too
    monitors = list(
        session.scalars(
            select(Monitor)
            .join(ModelVersion, Monitor.model_version_id == ModelVersion.id)
            .where(ModelVersion.model_id == mv.model_id)
            .order_by(Monitor.id)
        )
    )
    compliance = compliance_service.check(session, mv=mv).to_dict()
    curves = [
        curve
        for monitor in monitors
        if monitor.kind == "robustness"
        for curve in (_curve(r) for r in _runs(session, monitor))
        if curve is not None
    ]
    jobs = technical.jobs_of_model(session, mv)
    produced_by = technical.producing_job(jobs, mv)
    requests = list(reversed(approval_service.list_requests(session, model_version_id=mv.id)))
    approvals = _approvals(session, mv, policy or ApprovalPolicy())
    data_governance = _data_governance(mv)
    people = accountability.responsibilities(mv, requests, produced_by)
    levels = technical.declared_levels(session, mv, produced_by)
    report: dict[str, Any] = {
        "report": {
            "model": mv.ref,
            "generated_at": utcnow().isoformat(timespec="seconds"),
            "sections": [{"key": k, "number": n, "title": t} for n, (k, t) in enumerate(SECTIONS, start=1)],
        },
        "description": _description(mv),
        "limitations": accountability.limitations(
            mv, compliance, data_governance["datasets"], data_governance["features"]
        ),
        "oversight": _oversight(session, mv, approvals["levels"], requests, monitors),
        "lineage": _lineage(mv, compliance),
        "data_governance": data_governance,
        "data_quality": _data_quality(session, mv, monitors),
        "evaluation": {"metrics": mv.metrics or {}, **levels},
        "fairness": technical.fairness(session, mv, monitors),
        "robustness": _robustness(curves, produced_by, levels["robustness"]),
        explanations.KEY: explanations.section(session, mv, monitors),
        "monitoring": _monitoring(session, mv, monitors),
        "monitoring_plan": technical.monitoring_plan(monitors),
        "change_plan": _change_plan(session, mv),
        "incidents": technical.incidents(session, monitors, jobs),
        "retraining": technical.retraining(session, mv, jobs),
        "lifecycle": _lifecycle(session, mv),
        "responsibilities": people,
        "approvals": approvals,
        "audit": _audit(session, mv),
        "signoff": accountability.signoff(people),
    }
    present = mapping.evidence(report)
    report["report"]["evidence"] = present
    report["mapping"] = {
        "eu_ai_act_annex_iv": mapping.annex_iv_table(present),
        "sr_26_2": mapping.sr_26_2_table(present),
        "sr_11_7": mapping.sr_11_7_inventory(report, present),
    }
    return report
