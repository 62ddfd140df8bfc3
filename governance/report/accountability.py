"""Who is accountable for a model version and how humans stay in control of it.

Limitations and oversight measures are derived from records, each item naming its source; the
people are read from the registration, the retrain jobs and the approvals (role, verification,
date). A field the registry does not hold is None, and the renderers print "not recorded".
"""

from __future__ import annotations

from typing import Any

from governance.approval.models import ApprovalRequest
from governance.auth import principal as principals
from governance.mlmodel.models import ModelVersion
from governance.monitoring.models import Monitor, RetrainJob
from governance.report.mapping import NOT_RECORDED


def limitations(
    mv: ModelVersion, compliance: dict[str, Any], datasets: list[dict[str, Any]], features: list[str]
) -> dict[str, Any]:
    items: list[dict[str, str]] = []
    out_of_scope: list[dict[str, str]] = []
    if mv.intended_use != "commercial":
        out_of_scope.append(
            {
                "item": f"commercial use: the version is registered for {mv.intended_use} use only",
                "source": "registration (intended use)",
            }
        )
    for finding in [*compliance.get("obligations", []), *compliance.get("violations", [])]:
        if finding.get("property") in ("noncommercial", "use_restrictions", "non_commercial") or (
            "commercial" in str(finding.get("message", "")).lower()
        ):
            out_of_scope.append({"item": str(finding["message"]), "source": "license compliance"})
    for ds in datasets:
        if ds["personal_data"] != "none" and ds["legal_basis"]:
            out_of_scope.append(
                {
                    "item": f"processing beyond the legal basis of {ds['dataset']} "
                    f"({ds['personal_data']} data under {ds['legal_basis']})",
                    "source": "data governance",
                }
            )
        if ds["jurisdictions"]:
            items.append(
                {
                    "item": f"{ds['dataset']} is governed by {', '.join(ds['jurisdictions'])}",
                    "source": "data governance",
                }
            )
    trained = sorted({d["dataset"] for d in datasets if d["role"] in ("train", "training")})
    if trained:
        items.append(
            {
                "item": "validated only on inputs like its training data ("
                + ", ".join(trained)
                + "); inputs outside that population are not assessed until a monitor sees them",
                "source": "lineage",
            }
        )
    if features:
        items.append(
            {
                "item": f"expects exactly {len(features)} input features in the recorded schema",
                "source": "schema",
            }
        )
    if mv.description:
        items.append({"item": f"as described at registration: {mv.description}", "source": "registration"})
    return {"limitations": items, "out_of_scope": out_of_scope}


def oversight(
    mv: ModelVersion, levels: list[str], requests: list[ApprovalRequest], monitors: list[Monitor]
) -> dict[str, Any]:
    """Art. 14: the measures that keep a person in the loop, as the registry enforces them."""
    measures: list[dict[str, str]] = []
    if levels:
        measures.append(
            {
                "measure": "production needs approval in order by " + ", then ".join(levels),
                "source": f"promotion policy ({mv.risk_tier} tier)",
            }
        )
    decided = [a for r in requests for a in r.approvals]
    if decided:
        measures.append(
            {
                "measure": f"{len(decided)} recorded decision(s) by verified people on {len(requests)} request(s)",
                "source": "approvals",
            }
        )
    notified = [
        m
        for m in monitors
        if any(isinstance(c, dict) and c.get("type") in ("email", "webhook") for c in m.channels or [])
    ]
    if notified:
        measures.append(
            {
                "measure": "breaches are sent to people: " + ", ".join(m.name for m in notified),
                "source": "monitor channels",
            }
        )
    if monitors:
        measures.append(
            {
                "measure": "alerts stay open until a person acknowledges and resolves them",
                "source": "alert workflow",
            }
        )
    retrained = [m for m in monitors if m.retrain_policy]
    if retrained:
        measures.append(
            {
                "measure": "a retrained candidate passes the gates and the same promotion policy "
                "(approvals included) before it serves",
                "source": "retrain policy of " + ", ".join(m.name for m in retrained),
            }
        )
    return {"measures": measures}


def _role_of(name: str) -> str:
    return "platform process" if name.startswith(principals.SYSTEM_PREFIX) else "user"


def responsibilities(
    mv: ModelVersion, requests: list[ApprovalRequest], produced_by: RetrainJob | None
) -> dict[str, Any]:
    first = mv.model.versions[0] if mv.model.versions else mv
    owner = {
        "name": first.registered_by,
        "role": "owner (registered the model)",
        "at": first.created_at.isoformat(),
    }
    if produced_by is not None:
        developer = {
            "name": mv.registered_by,
            "role": f"developer ({_role_of(mv.registered_by)}: retrain job {produced_by.id}, "
            f"requested for {produced_by.reason[:120]})",
            "at": mv.created_at.isoformat(),
        }
    else:
        developer = {
            "name": mv.registered_by,
            "role": f"developer ({_role_of(mv.registered_by)}, registered this version)",
            "at": mv.created_at.isoformat(),
        }
    approvers = [
        {
            "name": a.approver,
            "role": a.approver_role or NOT_RECORDED,
            "verification": principals.LABELS.get(a.verification, "not verified")
            if a.verification
            else "not verified",
            "decision": a.decision,
            "request": r.id,
            "at": a.at.isoformat(),
        }
        for r in requests
        for a in r.approvals
    ]
    first_level = [a for a in approvers if a["decision"] == "approve" and a["verification"] != "not verified"]
    validator = (
        {
            "name": first_level[0]["name"],
            "role": f"validator ({first_level[0]['role']}, first approval)",
            "at": first_level[0]["at"],
        }
        if first_level
        else None
    )
    return {"owner": owner, "developer": developer, "validator": validator, "approvers": approvers}


def signoff(people: dict[str, Any]) -> dict[str, Any]:
    """The sign-off block: one line per accountable role, filled where the registry has a decision."""
    lines = [
        {"role": "Owner", "name": people["owner"]["name"], "signed": None},
        {"role": "Developer", "name": people["developer"]["name"], "signed": None},
        {
            "role": "Validator",
            "name": people["validator"]["name"] if people["validator"] else None,
            "signed": people["validator"]["at"] if people["validator"] else None,
        },
    ]
    for a in people["approvers"]:
        if a["decision"] == "approve":
            lines.append({"role": f"Approver ({a['role']})", "name": a["name"], "signed": a["at"]})
    return {"lines": lines}
