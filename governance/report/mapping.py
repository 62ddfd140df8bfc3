"""Where each documentation regime's items are answered in the report, and whether the evidence is there.

The sections are the report's own keys (see ``governance.report.service.SECTIONS``). ``evidence``
says, per section, whether the registry holds anything for it; a mapping row is "answered in" only
the sections that have evidence, and says "not recorded" when none has. Regimes: EU AI Act Annex IV
(technical documentation, Art. 11(1)); SR 26-2, the US banking agencies' model risk management
guidance that replaced SR 11-7 in April 2026; SR 11-7 kept as a second mapping for older audits.
"""

from __future__ import annotations

from typing import Any

from governance.report import explanations

NOT_RECORDED = "not recorded"  # what a section, a mapping row or a field without evidence says

# EU AI Act, Annex IV (technical documentation referred to in Article 11(1)).
EU_AI_ACT_ANNEX_IV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "1",
        "General description of the AI system (intended purpose, versions, provider)",
        ("description", "limitations"),
    ),
    (
        "2",
        "Detailed description of the elements and of the development process, including data "
        "requirements, data governance, training methodologies and datasets",
        ("lineage", "data_governance", "data_quality", "retraining"),
    ),
    (
        "3",
        "Monitoring, functioning and control: capabilities and limitations in performance, "
        "foreseeable unintended outcomes, human oversight measures (Art. 14)",
        ("limitations", "oversight", "evaluation", "explanations"),
    ),
    ("4", "Appropriateness of the performance metrics", ("evaluation", "robustness", "fairness")),
    ("5", "Risk management system (Article 9)", ("description", "robustness", "incidents", "approvals")),
    ("6", "Relevant changes made through the lifecycle", ("lifecycle", "retraining", "change_plan")),
    ("7", "Harmonised standards and other specifications applied", ()),
    ("8", "EU declaration of conformity (the declaration itself is not produced here)", ("signoff",)),
    (
        "9",
        "Post-market monitoring plan and system (Article 72)",
        ("monitoring_plan", "monitoring", "incidents"),
    ),
)

# SR 26-2 model risk management: the elements an examiner checks in a model's file.
SR_26_2: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "inventory",
        "Model inventory: identification, purpose, owner, risk tier",
        ("description", "responsibilities"),
    ),
    (
        "development",
        "Model development and use: data, methodology, limitations and intended use",
        ("lineage", "data_governance", "data_quality", "limitations"),
    ),
    (
        "validation",
        "Independent validation: performance, robustness and outcomes analysis, validator",
        ("evaluation", "robustness", "fairness", "explanations", "responsibilities"),
    ),
    ("monitoring", "Ongoing monitoring and its thresholds", ("monitoring_plan", "monitoring")),
    ("issues", "Issues and incidents with their remediation", ("incidents", "retraining")),
    (
        "change",
        "Change management: material changes, revalidation",
        ("change_plan", "retraining", "lifecycle"),
    ),
    ("governance", "Governance: roles, approvals, sign-off and records", ("approvals", "signoff", "audit")),
)

# SR 11-7 (superseded by SR 26-2): model inventory fields, for audits under the older guidance.
SR_11_7_FIELDS: tuple[tuple[str, str], ...] = (
    ("purpose", "description"),
    ("methodology", "description"),
    ("inputs", "data_governance"),
    ("outputs", "description"),
    ("owner", "responsibilities"),
    ("validation_status", "approvals"),
    ("risk_tier", "description"),
)


def evidence(report: dict[str, Any]) -> dict[str, bool]:
    """Per section: does the registry hold anything that answers it?"""
    d = report["description"]
    mon = report["monitoring"]
    sign = report["signoff"]["lines"]
    return {
        "description": bool(d["intended_purpose"]),
        "limitations": bool(report["limitations"]["limitations"] or report["limitations"]["out_of_scope"]),
        "oversight": any(m.get("recorded", True) for m in report["oversight"]["measures"]),
        "lineage": bool(report["lineage"]["licenses"]),
        "data_governance": bool(report["data_governance"]["datasets"]),
        "data_quality": bool(report["data_quality"]["findings"]),
        "evaluation": bool(report["evaluation"]["accuracy"] or report["evaluation"]["robustness"]),
        "fairness": bool(report["fairness"]["results"]),
        "explanations": explanations.has_evidence(report["explanations"]),
        "robustness": bool(
            report["robustness"]["curves"]
            or report["robustness"]["gates"]
            or report["robustness"]["assessments"]
        ),
        "monitoring": any(s["runs"] for s in mon["drift"]) or bool(mon["alerts"]),
        "monitoring_plan": bool(report["monitoring_plan"]["monitors"]),
        "change_plan": bool(report["change_plan"].get("recorded")),
        "incidents": bool(report["incidents"]["kept"]),
        "retraining": bool(report["retraining"]["jobs"]),
        "lifecycle": bool(report["lifecycle"]["stage_history"]),
        "responsibilities": report["responsibilities"]["owner"]["name"] is not None,
        "approvals": bool(report["approvals"]["requests"]) or report["approvals"]["required"] == 0,
        "audit": bool(report["audit"]["model_events"]) and bool(report["audit"]["verified"]),
        "signoff": any(line["signed"] for line in sign),
    }


def _rows(
    table: tuple[tuple[str, str, tuple[str, ...]], ...], present: dict[str, bool]
) -> list[dict[str, Any]]:
    rows = []
    for point, text, sections in table:
        answered = [s for s in sections if present.get(s)]
        missing = [s for s in sections if not present.get(s)]
        if not answered:
            status = NOT_RECORDED
        elif missing:
            status = "partial"
        else:
            status = "present"
        rows.append(
            {
                "point": point,
                "requirement": text,
                "sections": list(sections),
                "answered_in": answered,
                "missing": missing,
                "evidence": status,
            }
        )
    return rows


def annex_iv_table(present: dict[str, bool]) -> list[dict[str, Any]]:
    return _rows(EU_AI_ACT_ANNEX_IV, present)


def sr_26_2_table(present: dict[str, bool]) -> list[dict[str, Any]]:
    return _rows(SR_26_2, present)


def sr_11_7_inventory(report: dict[str, Any], present: dict[str, bool]) -> list[dict[str, Any]]:
    """The SR 11-7 inventory fields with their values from the report."""
    desc = report["description"]
    approvals = report["approvals"]
    inputs = report["data_governance"]["features"]
    values: dict[str, str | None] = {
        "purpose": desc["intended_purpose"] and f"{desc['intended_purpose']} ({desc['intended_use']} use)",
        "methodology": f"{desc['framework']} {desc['task'] or 'model'}"
        + (f", hyperparameters {desc['hyperparameters']}" if desc["hyperparameters"] else ""),
        "inputs": ", ".join(inputs) if inputs else None,
        "outputs": desc["outputs"],
        "owner": report["responsibilities"]["owner"]["name"],
        "validation_status": approvals["status"],
        "risk_tier": desc["risk_tier"],
    }
    return [
        {
            "field": name,
            "value": values[name] if values[name] else NOT_RECORDED,
            "section": section,
            "evidence": "present" if values[name] and present.get(section) else NOT_RECORDED,
        }
        for name, section in SR_11_7_FIELDS
    ]
