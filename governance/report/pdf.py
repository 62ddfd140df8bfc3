"""The report as PDF (fpdf2, pure Python), with matplotlib's DejaVu fonts for full Unicode."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from governance.report import charts
from governance.report.service import SECTIONS

_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_TITLES = dict(SECTIONS)


class _Pdf(FPDF):
    def __init__(self, model: str) -> None:
        super().__init__(format="A4")
        self.model = model
        self.add_font("DejaVu", "", str(_FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(f"Audit report: {model}")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7)
        self.cell(0, 5, f"Audit report {self.model} · page {self.page_no()}", align="C")

    def heading(self, text: str, size: int = 13) -> None:
        self.ln(2)
        self.set_font("DejaVu", "B", size)
        self.multi_cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", "", 9)

    def para(self, text: str) -> None:
        self.set_font("DejaVu", "", 9)
        self.multi_cell(0, 4.6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def rows(self, header: list[str], rows: list[list[Any]], widths: tuple[int, ...] | None = None) -> None:
        if not rows:
            self.para("(none)")
            return
        self.set_font("DejaVu", "", 7.5)
        with self.table(
            col_widths=widths, text_align="LEFT", line_height=3.8, first_row_as_headings=True
        ) as t:
            t.row([str(h) for h in header])
            for row in rows:
                t.row(["-" if v is None or v == "" else str(v) for v in row])
        self.set_font("DejaVu", "", 9)
        self.ln(1)

    def section(self, key: str, number: int) -> None:
        self.heading(f"{number}. {_TITLES[key]}")


def _fmt(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def to_pdf(report: dict[str, Any]) -> bytes:
    figs = charts.figures(report)
    d = report["description"]
    pdf = _Pdf(d["model"])
    pdf.add_page()
    pdf.heading(f"Audit report: {d['model']}", 16)
    pdf.para(f"Generated {report['report']['generated_at']}")

    pdf.section("description", 1)
    pdf.rows(
        ["field", "value"],
        [
            ["model", d["model"]],
            ["intended use", d["intended_use"]],
            ["intended purpose", d.get("intended_purpose")],
            [
                "risk tier",
                f"{d['risk_tier']} (assessed {d.get('risk_assessed') or '-'}): {d.get('risk_reason') or '-'}",
            ],
            ["stage", d["stage"]],
            ["description", d["description"]],
            ["framework / task", f"{d['framework']} / {d['task'] or '-'}"],
            ["outputs", d["outputs"]],
            ["owner", f"{d['owner']} ({d['registered_at']})"],
            ["artifact sha256", d["artifact_sha256"]],
            ["license", d["license"]],
            ["base model", d["base_model"]],
            ["hyperparameters", _fmt(d["hyperparameters"])],
            ["seed", d["seed"]],
        ],
        (30, 70),
    )

    lin = report["lineage"]
    pdf.section("lineage", 2)
    pdf.para(
        f"Compliance: {'compliant' if lin['compliant'] else str(len(lin['violations'])) + ' violation(s)'}"
    )
    pdf.rows(
        ["license", "used by"], [[x["license"], ", ".join(x["used_by"])] for x in lin["licenses"]], (30, 70)
    )
    findings = [
        [kind[:-1], f["property"], " → ".join(f["path"]), f["message"]]
        for kind in ("violations", "obligations", "warnings")
        for f in lin[kind]
    ]
    pdf.rows(["finding", "property", "path", "message"], findings, (12, 14, 30, 44))
    pdf.para("Attribution list:")
    pdf.rows(
        ["ref", "kind", "license", "url"],
        [[a["ref"], a["kind"], a["license"], a.get("url")] for a in lin["attributions"]],
        (30, 12, 20, 38),
    )

    dg = report["data_governance"]
    pdf.section("data_governance", 3)
    pdf.rows(
        ["dataset", "role", "rows", "license", "personal data", "legal basis", "jurisdictions"],
        [
            [
                x["dataset"],
                x["role"],
                x["rows"],
                x["license"],
                x["personal_data"],
                x["legal_basis"],
                ", ".join(x["jurisdictions"]),
            ]
            for x in dg["datasets"]
        ],
        (24, 10, 9, 16, 13, 18, 10),
    )
    pdf.para(f"Inputs: {', '.join(dg['features']) or '-'}")

    pdf.section("data_quality", 4)
    pdf.rows(
        ["source", "kind", "status", "finding"],
        [
            [f["source"], f["kind"], f.get("status"), f.get("summary") or _fmt(f.get("report"))]
            for f in report["data_quality"]["findings"]
        ],
        (22, 14, 12, 52),
    )

    pdf.section("evaluation", 5)
    pdf.rows(["metric", "value"], [[k, v] for k, v in report["evaluation"]["metrics"].items()], (40, 60))

    pdf.section("robustness", 6)
    latest = report["robustness"]["latest"]
    if latest is None:
        pdf.para("No robustness run recorded.")
    else:
        for fig in figs["robustness"]:
            pdf.image(io.BytesIO(charts.png(fig)), w=150)
        pdf.rows(
            ["epsilon", "worst-case accuracy"],
            [[e, f"{w:.4f}"] for e, w in zip(latest["epsilons"], latest["worst_case"], strict=True)],
            (40, 60),
        )

    mon = report["monitoring"]
    pdf.section("monitoring", 7)
    pdf.rows(
        ["monitor", "kind", "schedule"],
        [[m["name"], m["kind"], m["schedule"]] for m in mon["monitors"]],
        (40, 30, 30),
    )
    for fig in figs["monitoring"]:
        pdf.image(io.BytesIO(charts.png(fig)), w=150)
    for series in mon["drift"]:
        pdf.para(f"{series['monitor']} ({series['kind']}):")
        pdf.rows(
            ["window end", "status", "metrics"],
            [
                [r["window_end"], r["status"], ", ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items())]
                for r in series["runs"]
            ],
            (28, 12, 60),
        )
    pdf.para("Alerts:")
    pdf.rows(
        ["#", "monitor", "status", "severity", "opened", "resolved", "message"],
        [
            [
                a["id"],
                a["monitor"],
                a["status"],
                a["severity"],
                a["opened_at"],
                a["resolved_at"],
                a["message"],
            ]
            for a in mon["alerts"]
        ],
        (5, 14, 11, 10, 18, 18, 24),
    )

    pdf.section("retraining", 8)
    pdf.rows(
        ["#", "model", "status", "reason", "created", "finished"],
        [
            [j["id"], j["model"], j["status"], j["reason"], j["created_at"], j["finished_at"]]
            for j in report["retraining"]["jobs"]
        ],
        (5, 15, 11, 33, 18, 18),
    )
    plan = (report["retraining"].get("change_plan") or {}).get("plan")
    pdf.heading("Predetermined change plan (EU AI Act Annex IV 2(f))", 11)
    if plan is None:
        pdf.para("No change plan: this model has not been retrained and declares no retrain policy.")
    else:
        pdf.para(
            f"Version {plan['version']} in force (set by {plan['created_by']}): training data "
            f"{_fmt(plan['training_data'])}; hyperparameter bounds {_fmt(plan['hyperparameters'])}; "
            f"gates {_fmt(plan['gates'])}"
        )
        pdf.rows(
            ["version", "job", "plan", "inside", "deviations"],
            [
                [
                    c["model"],
                    c["retrain_job"],
                    c["plan_version"],
                    "yes" if c["within"] else "no",
                    "; ".join(c["deviations"]),
                ]
                for c in report["retraining"]["change_plan"]["checks"]
            ],
            (20, 10, 10, 10, 50),
        )

    pdf.section("lifecycle", 9)
    pdf.rows(
        ["at", "from", "to", "actor", "reason"],
        [
            [t["at"], t["from"], t["to"], t["actor"], t["reason"]]
            for t in report["lifecycle"]["stage_history"]
        ],
        (26, 14, 14, 16, 30),
    )

    ap = report["approvals"]
    pdf.section("approvals", 10)
    pdf.para(f"Validation status: {ap['status']} (required: {ap['required']})")
    pdf.para("Approvers: " + ("; ".join(a["label"] for a in ap["approvers"]) or "none"))
    pol = ap.get("policy") or {}
    pdf.para(
        f"Promotion policy version {pol.get('version_in_force')} in force; production passed under "
        f"version {pol.get('version_passed') or '-'}; "
        + "; ".join(f"{q['name']}: {'met' if q['met'] else 'NOT met'}" for q in pol.get("requirements", []))
    )
    pdf.rows(
        ["request", "requested by", "decision", "who", "when", "comment"],
        [
            [
                f"{q['id']} ({q['status']})",
                q["requested_by"],
                a["decision"],
                f"{a['approver_label']}, level {a.get('level') or '-'}",
                a["at"],
                a["comment"],
            ]
            for q in ap["requests"]
            for a in q["decisions"]
        ],
        (14, 14, 11, 14, 24, 23),
    )

    au = report["audit"]
    pdf.section("audit", 11)
    verdict = "verifies" if au["verified"] else f"BROKEN: {au['reason']}"
    pdf.para(f"Audit chain {verdict} over {au['events']} events.")
    pdf.para(f"Head hash: {au['head_hash'] or '-'}")
    pdf.rows(
        ["#", "at", "actor", "action", "hash"],
        [[e["id"], e["at"], e["actor"], e["action"], e["hash"][:16]] for e in au["model_events"]],
        (6, 30, 16, 22, 26),
    )

    pdf.add_page()
    pdf.heading("Mapping to EU AI Act Annex IV and SR 11-7")
    pdf.para("EU AI Act, Annex IV (technical documentation):")
    pdf.rows(
        ["point", "requirement", "answered in"],
        [
            [m["point"], m["requirement"], ", ".join(m["sections"])]
            for m in report["mapping"]["eu_ai_act_annex_iv"]
        ],
        (8, 62, 30),
    )
    pdf.para("SR 11-7 model inventory:")
    pdf.rows(
        ["field", "value", "section"],
        [[m["field"], m["value"], m["section"]] for m in report["mapping"]["sr_11_7"]],
        (20, 60, 20),
    )
    return bytes(pdf.output())
