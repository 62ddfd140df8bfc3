"""What the alerts, approvals and audit pages show: filtered, paged reads (no writes).

Each filter is checked here; an unknown value is ``InvalidInput`` (the page says why, it does not
show an empty list as if nothing matched).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from dashboards import queries
from governance.approval.models import ApprovalRequest
from governance.audit import service as audit_service
from governance.audit import stored
from governance.audit.models import AuditEvent
from governance.dataset.models import DatasetVersion
from governance.errors import InvalidInput
from governance.explanation import service as explanation_service
from governance.mlmodel.models import Model, ModelVersion
from governance.monitoring.alerts import SEVERITIES
from governance.monitoring.models import ALERT_STATUSES, Alert, Monitor, MonitorRun, RetrainJob

PAGE = 50


def _choice(value: str | None, allowed: tuple[str, ...], what: str) -> str | None:
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidInput(f"unknown {what} {value[:40]!r}: one of {', '.join(allowed)}")
    return value


def _text(value: str | None, what: str, limit: int = 256) -> str | None:
    if value is None or value.strip() == "":
        return None
    if len(value) > limit or "\x00" in value:
        raise InvalidInput(f"the {what} filter is longer than {limit} characters or holds a NUL byte")
    return value.strip()


def _offset(value: str | None) -> int:
    try:
        offset = int(value or 0)
    except ValueError as exc:
        raise InvalidInput("offset is a whole number") from exc
    if not 0 <= offset <= 10**9:
        raise InvalidInput("offset is between 0 and 1000000000")
    return offset


# -- alerts -------------------------------------------------------------------------------------


def alert_filters(params: dict[str, str | None]) -> dict[str, Any]:
    return {
        "model": _text(params.get("model"), "model"),
        "monitor": _text(params.get("monitor"), "monitor"),
        "severity": _choice(params.get("severity"), SEVERITIES, "severity"),
        "status": _choice(params.get("status"), ALERT_STATUSES, "status"),
        "offset": _offset(params.get("offset")),
    }


def _comments(session: Session, entity_type: str, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The audit trail of each entity (actions with who, when, comment), oldest first."""
    found: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return found
    query = (
        stored.events_query(session)
        .where(AuditEvent.entity_type == entity_type, AuditEvent.entity_id.in_(ids))
        .order_by(AuditEvent.id)
    )
    for event in stored.read(session, query):
        changes = event.changes or {}
        comment = changes.get("comment") or changes.get("why")
        found.setdefault(event.entity_id or "", []).append(
            {"action": event.action, "actor": event.actor, "at": event.at, "comment": comment}
        )
    return found


def alerts(session: Session, f: dict[str, Any]) -> dict[str, Any]:
    query = (
        select(Alert)
        .join(Monitor, Alert.monitor_id == Monitor.id)
        .join(ModelVersion, Monitor.model_version_id == ModelVersion.id)
        .join(Model, ModelVersion.model_id == Model.id)
    )
    if f["model"]:
        name, _, version = f["model"].partition("@")
        query = query.where(Model.name == name)
        if version:
            query = query.where(ModelVersion.version == version)
    if f["monitor"]:
        query = query.where(Monitor.name == f["monitor"])
    if f["severity"]:
        query = query.where(Alert.severity == f["severity"])
    if f["status"]:
        query = query.where(Alert.status == f["status"])
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = list(session.scalars(query.order_by(Alert.id.desc()).limit(PAGE).offset(f["offset"])))
    trail = _comments(session, "alert", [str(a.id) for a in rows])
    return {
        "rows": [
            {
                **a.to_dict(),
                "name": a.monitor.model.name,
                "version": a.model_version.version if a.model_version is not None else None,
                "trail": trail.get(str(a.id), []),
            }
            for a in rows
        ],
        "total": total,
    }


def alert_choices(session: Session) -> dict[str, Any]:
    monitors = session.execute(
        select(Monitor.name, Model.name, ModelVersion.version)
        .join(ModelVersion, Monitor.model_version_id == ModelVersion.id)
        .join(Model, ModelVersion.model_id == Model.id)
        .order_by(Model.name, ModelVersion.version, Monitor.name)
    ).all()
    refs = sorted({f"{m}@{v}" for _, m, v in monitors} | {m for _, m, _ in monitors})
    return {
        "models": refs,
        "monitors": [n for n, _, _ in monitors],
        "severities": SEVERITIES,
        "statuses": ALERT_STATUSES,
    }


# -- audit log ----------------------------------------------------------------------------------


def audit_filters(params: dict[str, str | None]) -> dict[str, Any]:
    return {
        "entity": _text(params.get("entity"), "entity"),
        "action": _text(params.get("action"), "action", 64),
        "offset": _offset(params.get("offset")),
    }


def audit_actions(session: Session) -> list[str]:
    return [a for a in session.scalars(select(AuditEvent.action).distinct().order_by(AuditEvent.action)) if a]


def _entity_link(entity_type: str | None, entity_id: str | None, changes: dict[str, Any]) -> str | None:
    from urllib.parse import quote, urlencode

    if not entity_id:
        return None
    if entity_type == "model_version" and "@" in entity_id:
        name, _, version = entity_id.partition("@")
        return f"/models/{quote(name, safe='')}/{quote(version, safe='')}"
    if entity_type == "alert":
        return (
            f"/alerts?{urlencode({'monitor': changes['monitor']})}" if changes.get("monitor") else "/alerts"
        )
    if entity_type == "approval_request":
        return "/approvals"
    return None


def _details(action: str | None, changes: dict[str, Any]) -> list[tuple[str, str]]:
    """The changes as (label, text) pairs, the stage move and the comment first."""
    shown: list[tuple[str, str]] = []
    if "from" in changes or "to" in changes:
        shown.append(("stage", f"{changes.get('from') or '(new)'} → {changes.get('to')}"))
    for key in ("reason", "comment", "why"):
        if changes.get(key):
            shown.append((key, str(changes[key])))
    for key, value in changes.items():
        if key in ("from", "to", "reason", "comment", "why") or value in (None, "", [], {}):
            continue
        text = value if isinstance(value, str) else queries.compact_json(value)
        shown.append((key, text if len(text) <= 300 else text[:300] + "…"))
    return shown


def audit(session: Session, f: dict[str, Any]) -> dict[str, Any]:
    events = audit_service.list_events(
        session, entity_id=f["entity"], action=f["action"], limit=PAGE, offset=f["offset"]
    )
    rows = []
    for e in events:
        data = e.to_dict()
        changes = e.changes or {}
        data["details"] = _details(e.action, changes)
        data["link"] = _entity_link(e.entity_type, e.entity_id, changes)
        rows.append(data)
    total = audit_service.count_events(session, entity_id=f["entity"], action=f["action"])
    return {"rows": rows, "total": total}


# -- approvals ----------------------------------------------------------------------------------


def _gates(session: Session, mv: ModelVersion) -> dict[str, Any] | None:
    """The gates of the retrain job that produced ``mv`` (champion vs challenger), if one did."""
    for job in session.scalars(
        select(RetrainJob).where(RetrainJob.status == "succeeded").order_by(RetrainJob.id.desc())
    ):
        result = job.result or {}
        if result.get("candidate") == mv.ref:
            return {
                "job": job.id,
                "passed": result.get("passed"),
                "champion": result.get("champion"),
                "gates": [
                    {**g, "metrics": queries.rounded(g.get("metrics") or {})}
                    for g in result.get("gates") or []
                    if isinstance(g, dict)
                ],
            }
    return None


def _data_quality(mv: ModelVersion) -> list[dict[str, Any]]:
    shown = []
    for link in mv.datasets:
        dv: DatasetVersion = link.dataset_version
        report = dv.quality_report or {}
        shown.append(
            {
                "dataset": dv.ref,
                "role": link.role,
                "status": report.get("status") or "not assessed",
                "summary": report.get("summary") or "",
            }
        )
    return shown


def _robustness(session: Session, mv: ModelVersion) -> dict[str, Any] | None:
    run = session.scalar(
        select(MonitorRun)
        .join(Monitor, MonitorRun.monitor_id == Monitor.id)
        .where(
            Monitor.model_version_id == mv.id,
            Monitor.kind == "robustness",
            MonitorRun.status.in_(queries.FINISHED),
        )
        .order_by(MonitorRun.window_end.desc())
        .limit(1)
    )
    if run is None:
        return None
    return {
        "status": run.status,
        "summary": (run.details or {}).get("summary") or "",
        "window_end": run.window_end,
    }


def evidence(session: Session, mv: ModelVersion) -> dict[str, Any]:
    """What an approver needs on the request: findings, gates, data quality, robustness, metrics."""
    report = queries.compliance_report(session, mv)
    return {
        "compliant": report.compliant,
        "violations": [f.message for f in report.violations],
        "obligations": [f.message for f in report.obligations],
        "warnings": [f.message for f in report.warnings],
        "gates": _gates(session, mv),
        "quality": _data_quality(mv),
        "robustness": _robustness(session, mv),
        "metrics": queries.rounded(mv.metrics or {}),
        "report": f"/api/v1/models/{mv.model.name}/{mv.version}/report?format=html",
        "explanation": queries.explanation_view(explanation_service.latest(session, mv=mv), k=3),
        "page": f"/models/{quote(mv.model.name, safe='')}/{quote(mv.version, safe='')}",
    }


def approval_state(request: ApprovalRequest) -> str:
    """What the request means now: an approved version not yet in production awaits promotion."""
    if request.status == "approved":
        return (
            "in production" if request.model_version.stage == "production" else "approved, awaiting promotion"
        )
    return request.status


def approval_counts(session: Session) -> dict[str, int]:
    rows = session.execute(
        select(ApprovalRequest.status, func.count(ApprovalRequest.id)).group_by(ApprovalRequest.status)
    ).all()
    counts = {status: int(n) for status, n in rows}
    awaiting = session.scalar(
        select(func.count(ApprovalRequest.id))
        .join(ModelVersion, ApprovalRequest.model_version_id == ModelVersion.id)
        .where(ApprovalRequest.status == "approved", ModelVersion.stage != "production")
    )
    return {
        "pending": counts.get("pending", 0),
        "awaiting_promotion": int(awaiting or 0),
        "approved": counts.get("approved", 0),
        "rejected": counts.get("rejected", 0),
    }
