"""Where each documentation regime's items are answered in the report.

The sections are the report's own keys (see ``governance.report.service.SECTIONS``); an auditor
reads the table for their regime and follows the section names.
"""

from __future__ import annotations

from typing import Any

# EU AI Act, Annex IV (technical documentation referred to in Article 11(1)).
EU_AI_ACT_ANNEX_IV: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("1", "General description of the AI system (intended purpose, versions, provider)", ("description",)),
    (
        "2",
        "Detailed description of the elements and of the development process, including data "
        "requirements, data governance, training methodologies and datasets",
        ("description", "lineage", "data_governance", "data_quality"),
    ),
    ("3", "Monitoring, functioning and control of the AI system", ("monitoring", "approvals")),
    ("4", "Appropriateness of the performance metrics", ("evaluation", "robustness")),
    ("5", "Risk management system (Article 9)", ("description", "lineage", "robustness", "approvals")),
    ("6", "Relevant changes made through the lifecycle", ("lifecycle", "retraining", "approvals")),
    ("7", "Harmonised standards and other specifications applied", ("lineage",)),
    ("8", "EU declaration of conformity", ("approvals", "audit")),
    ("9", "Post-market monitoring plan and system (Article 72)", ("monitoring", "retraining", "audit")),
)

# SR 11-7 (Federal Reserve / OCC guidance on model risk management): model inventory fields.
SR_11_7_FIELDS: tuple[tuple[str, str], ...] = (
    ("purpose", "description"),
    ("methodology", "description"),
    ("inputs", "data_governance"),
    ("outputs", "description"),
    ("owner", "description"),
    ("validation_status", "approvals"),
    ("risk_tier", "description"),
)


def annex_iv_table() -> list[dict[str, Any]]:
    return [
        {"point": p, "requirement": text, "sections": list(sections)}
        for p, text, sections in EU_AI_ACT_ANNEX_IV
    ]


def sr_11_7_inventory(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The SR 11-7 inventory fields with their values from the report."""
    desc = report["description"]
    approvals = report["approvals"]
    inputs = report["data_governance"]["features"]
    values = {
        "purpose": f"{desc['intended_use']} use"
        + (f": {desc['description']}" if desc["description"] else ""),
        "methodology": f"{desc['framework']} {desc['task'] or 'model'}"
        + (f", hyperparameters {desc['hyperparameters']}" if desc["hyperparameters"] else ""),
        "inputs": ", ".join(inputs) if inputs else "see the datasets in data governance",
        "outputs": desc["outputs"],
        "owner": desc["owner"],
        "validation_status": approvals["status"],
        "risk_tier": desc["risk_tier"],
    }
    return [{"field": name, "value": values[name], "section": section} for name, section in SR_11_7_FIELDS]
