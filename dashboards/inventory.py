"""The inventory: models grouped with their versions, filtered, sorted and paged in SQL.

A page lists models, not versions: the production version heads its model's row (else the newest
version), the other versions fold under it. Stage, risk tier, owner, search and monitor status are
conditions in the query; the page is a ``LIMIT``/``OFFSET`` over models and the total a ``count``.
Compliance comes from the stored verdicts (``governance.compliance.cache``, recomputed when lineage
or licenses change), read for the whole page in one query.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, exists, func, or_, select
from sqlalchemy.orm import Session, aliased

from dashboards import queries
from governance.approval.models import Approval, ApprovalRequest
from governance.approval.service import ApprovalPolicy
from governance.changeplan.models import ChangePlanCheck
from governance.compliance.cache import ComplianceSummary, cached_summaries
from governance.compliance.models import ComplianceResult
from governance.errors import InvalidInput
from governance.mlmodel.models import RISK_TIERS, STAGES, Model, ModelVersion, StageTransition
from governance.monitoring.models import Alert, Monitor, MonitorRun
from governance.policy import service as policy_service

COMPLIANCE = ("ok", "warnings", "violations")
MONITOR_STATES = ("not_monitored", "no_run", "ok", "warning", "breach", "error")
STATE_LABELS = {
    "not_monitored": "not monitored",
    "no_run": "no run yet",
    "ok": "ok",
    "warning": "warning",
    "breach": "breach",
    "error": "error",
}
SORTS = ("name", "updated", "risk", "stage")
PER_PAGE = (10, 25, 50, 100)
GROUPS = {"drift": queries.DRIFT_KINDS, "quality": ("quality", "consistency"), "robustness": ("robustness",)}
CSV_LIMIT = 10_000


@dataclass(frozen=True)
class Filters:
    q: str = ""
    stage: str = ""
    risk: str = ""
    compliance: str = ""
    monitor: str = ""
    owner: str = ""
    sort: str = "name"
    desc: bool = False
    page: int = 1
    per_page: int = 25
    problems: list[str] = field(default_factory=list)

    def query_string(self, **change: Any) -> str:
        """The filters as a query string, with ``change`` applied (for links: sort, page)."""
        from urllib.parse import urlencode

        values = {
            "q": self.q,
            "stage": self.stage,
            "risk": self.risk,
            "compliance": self.compliance,
            "monitor": self.monitor,
            "owner": self.owner,
            "sort": self.sort,
            "desc": "1" if self.desc else "",
            "page": str(self.page),
            "per_page": str(self.per_page),
        }
        values.update({k: str(v) for k, v in change.items()})
        return urlencode({k: v for k, v in values.items() if v and not (k == "page" and v == "1")})


def _choice(value: str | None, allowed: tuple[str, ...], what: str) -> str:
    value = (value or "").strip()
    if value and value not in allowed:
        raise InvalidInput(f"unknown {what} {value[:40]!r}: one of {', '.join(allowed)}")
    return value


def parse_filters(
    *,
    q: str | None = None,
    stage: str | None = None,
    risk: str | None = None,
    compliance: str | None = None,
    monitor: str | None = None,
    owner: str | None = None,
    sort: str | None = None,
    desc: str | None = None,
    page: str | None = None,
    per_page: str | None = None,
) -> Filters:
    """The inventory's filters from the query string; an unknown value is one sentence (InvalidInput)."""
    if q is not None and len(q) > 200:
        raise InvalidInput("the search text is longer than 200 characters")
    if owner is not None and len(owner) > 128:
        raise InvalidInput("the owner is longer than 128 characters")
    try:
        page_number = int(page or 1)
        size = int(per_page or 25)
    except ValueError as exc:
        raise InvalidInput("page and per_page are whole numbers") from exc
    if not 1 <= page_number <= 1_000_000:
        raise InvalidInput("page is between 1 and 1000000")
    if size not in PER_PAGE:
        raise InvalidInput(f"per_page is one of {', '.join(map(str, PER_PAGE))}")
    return Filters(
        q=(q or "").strip(),
        stage=_choice(stage, STAGES, "stage"),
        risk=_choice(risk, RISK_TIERS, "risk tier"),
        compliance=_choice(compliance, COMPLIANCE, "compliance status"),
        monitor=_choice(monitor, MONITOR_STATES, "monitor status"),
        owner=(owner or "").strip(),
        sort=_choice(sort, SORTS, "sort") or "name",
        desc=desc in ("1", "true", "yes"),
        page=page_number,
        per_page=size,
    )


def _watches() -> Any:
    """The monitor watches the version: pinned to it, or following its model."""
    return or_(
        Monitor.model_version_id == ModelVersion.id,
        Monitor.model_version_id.is_(None) & (Monitor.model_id == ModelVersion.model_id),
    )


def _latest_run_is(status: tuple[str, ...]) -> Any:
    """A monitor of the version whose latest finished run of that version has one of ``status``."""
    newer = aliased(MonitorRun)
    latest = ~exists().where(
        newer.monitor_id == MonitorRun.monitor_id,
        newer.model_version_id == MonitorRun.model_version_id,
        newer.status.in_(queries.FINISHED),
        newer.window_start > MonitorRun.window_start,
    )
    return exists().where(
        _watches(),
        MonitorRun.monitor_id == Monitor.id,
        MonitorRun.model_version_id == ModelVersion.id,
        MonitorRun.status.in_(status),
        latest,
    )


def _monitor_condition(state: str) -> Any:
    has_monitor = exists().where(_watches())
    has_run = exists().where(
        _watches(),
        MonitorRun.monitor_id == Monitor.id,
        MonitorRun.model_version_id == ModelVersion.id,
        MonitorRun.status.in_(queries.FINISHED),
    )
    if state == "not_monitored":
        return ~has_monitor
    if state == "no_run":
        return and_(has_monitor, ~has_run)
    if state == "ok":
        return and_(_latest_run_is(("ok",)), ~_latest_run_is(("warning", "breach", "error")))
    return _latest_run_is((state,))


def _version_conditions(f: Filters) -> list[Any]:
    conditions: list[Any] = []
    if f.q:
        pattern = "%" + f.q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        conditions.append(
            or_(
                func.lower(Model.name).like(pattern, escape="\\"),
                func.lower(func.coalesce(ModelVersion.description, "")).like(pattern, escape="\\"),
                func.lower(ModelVersion.version).like(pattern, escape="\\"),
            )
        )
    if f.stage:
        conditions.append(ModelVersion.stage == f.stage)
    if f.risk:
        conditions.append(ModelVersion.risk_tier == f.risk)
    if f.owner:
        conditions.append(ModelVersion.registered_by == f.owner)
    if f.monitor:
        conditions.append(_monitor_condition(f.monitor))
    return conditions


_RISK_RANK = {"low": 1, "medium": 2, "high": 3}
_STAGE_RANK = {"archived": 1, "candidate": 2, "staging": 3, "production": 4}


def _models_query(f: Filters) -> Select[Any]:
    """The ids of the models with a matching version, in the page's order.

    Sorted by name (the default), a model matches through ``EXISTS`` and the name index gives the
    order, so a page reads only its own models; the other sorts aggregate over the matching versions.
    """
    conditions = _version_conditions(f)
    if f.sort == "name":
        matching = exists().where(ModelVersion.model_id == Model.id, *conditions)
        return select(Model.id).where(matching).order_by(Model.name.desc() if f.desc else Model.name.asc())
    query = select(Model.id).join(ModelVersion, ModelVersion.model_id == Model.id).where(*conditions)
    if f.sort == "updated":
        query = query.outerjoin(StageTransition, StageTransition.model_version_id == ModelVersion.id)
        key: Any = func.max(StageTransition.at)
    elif f.sort == "risk":
        key = func.max(case(_RISK_RANK, value=ModelVersion.risk_tier, else_=0))
    else:
        key = func.max(case(_STAGE_RANK, value=ModelVersion.stage, else_=0))
    order = [key.desc() if f.desc else key.asc(), Model.name.asc()]
    return query.group_by(Model.id, Model.name).order_by(*order)


def _count_models(session: Session, f: Filters) -> int:
    matching = exists().where(ModelVersion.model_id == Model.id, *_version_conditions(f))
    return int(session.scalar(select(func.count()).select_from(Model).where(matching)) or 0)


_LATEST_REQUEST = aliased(ApprovalRequest, name="latest_request")


def _alerts(status: str) -> Any:
    return (
        select(func.count(Alert.id))
        .where(Alert.model_version_id == ModelVersion.id, Alert.status == status)
        .scalar_subquery()
    )


# What a row of the inventory shows of a version, read as a row with its aggregates joined (one
# query for the page's versions, no ORM objects: issue 15): last stage change, open and
# acknowledged alerts, the stored compliance summary, the latest approval request with its
# verified approvals, and whether a retrain went outside its change plan.
_VERSION_ROWS = (
    select(
        ModelVersion.id,
        ModelVersion.model_id,
        Model.name,
        ModelVersion.version,
        ModelVersion.stage,
        ModelVersion.risk_tier,
        ModelVersion.intended_use,
        ModelVersion.registered_by,
        ModelVersion.description,
        ModelVersion.created_at,
        select(func.max(StageTransition.at))
        .where(StageTransition.model_version_id == ModelVersion.id)
        .scalar_subquery()
        .label("updated"),
        _alerts("open").label("open_alerts"),
        _alerts("acknowledged").label("acknowledged_alerts"),
        ComplianceResult.compliant,
        ComplianceResult.violations,
        ComplianceResult.warnings,
        ComplianceResult.obligations,
        ComplianceResult.computed_at,
        _LATEST_REQUEST.status.label("request_status"),
        _LATEST_REQUEST.required.label("request_required"),
        select(func.count(Approval.id))
        .where(
            Approval.request_id == _LATEST_REQUEST.id,
            Approval.decision == "approve",
            Approval.verification.is_not(None),
        )
        .scalar_subquery()
        .label("request_approved"),
        exists()
        .where(ChangePlanCheck.model_version_id == ModelVersion.id, ChangePlanCheck.within.is_(False))
        .label("outside_plan"),
    )
    .join(Model, ModelVersion.model_id == Model.id)
    .outerjoin(ComplianceResult, ComplianceResult.model_version_id == ModelVersion.id)
    .outerjoin(
        _LATEST_REQUEST,
        _LATEST_REQUEST.id
        == select(func.max(ApprovalRequest.id))
        .where(ApprovalRequest.model_version_id == ModelVersion.id)
        .scalar_subquery(),
    )
)


def _matching_versions(session: Session, f: Filters, model_ids: list[int]) -> dict[int, list[Any]]:
    """The matching versions of each model, newest first, as rows."""
    found: dict[int, list[Any]] = {i: [] for i in model_ids}
    if not model_ids:
        return found
    query = _VERSION_ROWS.where(ModelVersion.model_id.in_(model_ids), *_version_conditions(f)).order_by(
        ModelVersion.id.desc()
    )
    for row in session.execute(query).mappings():
        found[row["model_id"]].append(row)
    return found


def _compliance_state(summary: ComplianceSummary | None) -> str:
    return summary.status if summary is not None else "unknown"


# The page's statements are built once (with expanding parameters): building one costs more than
# running it on a page of rows.
def _ids(name: str) -> Any:
    return bindparam(name, expanding=True)


_WATCHING = select(Monitor.id, Monitor.model_version_id, Monitor.model_id, Monitor.kind).where(
    or_(
        Monitor.model_version_id.in_(_ids("version_ids")),
        Monitor.model_version_id.is_(None) & Monitor.model_id.in_(_ids("model_ids")),
    )
)
_NEWER_RUN = aliased(MonitorRun)
_LATEST_RUNS = select(
    MonitorRun.monitor_id, MonitorRun.model_version_id, MonitorRun.status, MonitorRun.window_end
).where(
    MonitorRun.monitor_id.in_(_ids("monitor_ids")),
    MonitorRun.model_version_id.in_(_ids("version_ids")),
    MonitorRun.status.in_(queries.FINISHED),
    ~exists().where(
        _NEWER_RUN.monitor_id == MonitorRun.monitor_id,
        _NEWER_RUN.model_version_id == MonitorRun.model_version_id,
        _NEWER_RUN.status.in_(queries.FINISHED),
        _NEWER_RUN.window_start > MonitorRun.window_start,
    ),
)


def _monitor_cells(session: Session, model_of: dict[int, int]) -> dict[int, dict[str, dict[str, Any]]]:
    """Per version (``model_of``: version id -> model id) and group (drift, quality, robustness):
    the state of the latest runs of the monitors that watch it (pinned to it, or following its
    model), counting only runs of that version."""
    version_ids = list(model_of)
    cells: dict[int, dict[str, dict[str, Any]]] = {
        v: {g: {"state": "not_monitored", "at": None, "monitors": 0} for g in GROUPS} for v in version_ids
    }
    if not version_ids:
        return cells
    group_of = {kind: g for g, kinds in GROUPS.items() for kind in kinds}
    monitors = session.execute(
        _WATCHING, {"version_ids": version_ids, "model_ids": sorted(set(model_of.values()))}
    ).all()
    if not monitors:
        return cells
    latest_runs = session.execute(
        _LATEST_RUNS, {"monitor_ids": [m.id for m in monitors], "version_ids": version_ids}
    ).all()
    latest = {(r.monitor_id, r.model_version_id): r for r in latest_runs}
    statuses: dict[tuple[int, str], list[str]] = {}
    for m in monitors:
        group = group_of.get(m.kind)
        if group is None:
            continue
        watched = (
            [m.model_version_id]
            if m.model_version_id is not None
            else [v for v in version_ids if model_of[v] == m.model_id]
        )
        for version_id in watched:
            cell = cells[version_id][group]
            cell["monitors"] += 1
            run = latest.get((m.id, version_id))
            if run is None:
                continue
            statuses.setdefault((version_id, group), []).append(run.status)
            if cell["at"] is None or run.window_end > cell["at"]:
                cell["at"] = run.window_end
    for (version_id, group), found in statuses.items():
        cells[version_id][group]["state"] = queries.worst(found) or "no_run"
    for by_group in cells.values():
        for cell in by_group.values():
            if cell["monitors"] and cell["at"] is None:
                cell["state"] = "no_run"
    return cells


def _summaries(session: Session, versions: list[Any]) -> dict[int, ComplianceSummary]:
    """The stored compliance summary of each version (joined to its row); a version with none
    stored yet is walked now (``cached_summaries``)."""
    found = {
        v["id"]: ComplianceSummary(
            v["id"], v["compliant"], v["violations"], v["warnings"], v["obligations"], v["computed_at"]
        )
        for v in versions
        if v["computed_at"] is not None
    }
    missing = [v["id"] for v in versions if v["computed_at"] is None]
    return {**found, **cached_summaries(session, mv_ids=missing)} if missing else found


def approval_levels(session: Session, policy: ApprovalPolicy) -> dict[str, tuple[str, ...]]:
    """The approval levels the policy in force asks of each risk tier."""
    document = policy_service.in_force(session, seed=policy.to_document())
    return {tier: document.tier(tier).approvals for tier in RISK_TIERS}


def approval_status(version: Any, levels: dict[str, tuple[str, ...]]) -> str:
    """What ``queries.approval_status`` says of a version row (its tier, its latest request, whether
    a retrain went outside its change plan), read from the row's joined columns."""
    if not levels[version["risk_tier"]] and not version["outside_plan"]:
        return "not required"
    if version["request_status"] is None:
        return "not requested"
    return f"{version['request_status']} {version['request_approved']}/{version['request_required']}"


def _version_row(
    mv: Any, summary: ComplianceSummary | None, approval: str, cells: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    return {
        "ref": f"{mv['name']}@{mv['version']}",
        "name": mv["name"],
        "version": mv["version"],
        "stage": mv["stage"],
        "risk_tier": mv["risk_tier"],
        "intended_use": mv["intended_use"],
        "owner": mv["registered_by"],
        "description": mv["description"] or "",
        "updated": mv["updated"] or mv["created_at"],
        "compliance": _compliance_state(summary),
        "violations": summary.violations if summary is not None else 0,
        "approval": approval,
        "cells": {g: {**c, "label": STATE_LABELS[c["state"]]} for g, c in cells.items()},
        "open_alerts": mv["open_alerts"],
        "acknowledged_alerts": mv["acknowledged_alerts"],
    }


def _headline(versions: list[Any]) -> Any:
    production = [v for v in versions if v["stage"] == "production"]
    return production[0] if production else versions[0]  # versions are newest first


def listing(session: Session, policy: ApprovalPolicy, f: Filters) -> dict[str, Any]:
    """One page of models: ``{"models": [...], "total": n, "pages": p}``; each model has ``head``
    (its production version, else its newest matching one) and ``others`` (folded).

    A constant number of queries whatever the page's size: the page of models and the total, their
    matching versions with their aggregates joined, the policy in force, and two for the monitors.
    """
    models_query = _models_query(f)
    summaries: dict[int, ComplianceSummary] = {}
    if f.compliance:
        # the stored verdicts of every matching version (joined), then the page in Python
        all_ids = list(session.scalars(models_query))
        versions = _matching_versions(session, f, all_ids)
        summaries = _summaries(session, [mv for vs in versions.values() for mv in vs])
        kept = []
        for model_id in all_ids:
            matching = [
                mv for mv in versions[model_id] if _compliance_state(summaries.get(mv["id"])) == f.compliance
            ]
            if matching:
                kept.append(model_id)
                versions[model_id] = matching
        total = len(kept)
        start = (f.page - 1) * f.per_page
        model_ids = kept[start : start + f.per_page]
    else:
        total = _count_models(session, f)
        model_ids = list(session.scalars(models_query.limit(f.per_page).offset((f.page - 1) * f.per_page)))
        versions = _matching_versions(session, f, model_ids)
    page_versions = [mv for i in model_ids for mv in versions[i]]
    if not f.compliance:
        summaries = _summaries(session, page_versions)
    cells = _monitor_cells(session, {mv["id"]: mv["model_id"] for mv in page_versions})
    levels = approval_levels(session, policy) if page_versions else {}
    models = []
    for model_id in model_ids:
        group = versions[model_id]
        if not group:
            continue
        rows = [
            _version_row(mv, summaries.get(mv["id"]), approval_status(mv, levels), cells[mv["id"]])
            for mv in group
        ]
        head = _headline(group)
        models.append(
            {
                "name": head["name"],
                "head": rows[group.index(head)],
                "others": [r for r, mv in zip(rows, group, strict=True) if mv is not head],
            }
        )
    pages = max(1, -(-total // f.per_page))
    return {"models": models, "total": total, "pages": pages}


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> str:
    """A CSV cell a spreadsheet shows as text: a leading ``= + - @`` would make it a formula."""
    text = "" if value is None else (value.isoformat() if isinstance(value, datetime) else str(value))
    return "'" + text if text.startswith(_FORMULA_START) else text


CSV_COLUMNS = (
    "model", "version", "stage", "risk_tier", "intended_use", "owner", "updated", "compliance",
    "violations", "approval", "drift", "drift_last_run", "quality", "quality_last_run",
    "robustness", "robustness_last_run", "open_alerts", "acknowledged_alerts", "description",
)  # fmt: skip


def to_csv(session: Session, policy: ApprovalPolicy, f: Filters) -> str:
    """Every matching version (not only one page), one row each, at most ``CSV_LIMIT``."""
    whole = Filters(**{**f.__dict__, "page": 1, "per_page": CSV_LIMIT})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for model in listing(session, policy, whole)["models"]:
        for r in [model["head"], *model["others"]]:
            flat = {**r, "model": r["name"]}
            for group in GROUPS:
                flat[group], flat[f"{group}_last_run"] = r["cells"][group]["label"], r["cells"][group]["at"]
            writer.writerow(_cell(flat[c]) for c in CSV_COLUMNS)
    return out.getvalue()
