"""The report as PDF (fpdf2, pure Python), with matplotlib's DejaVu fonts for full Unicode.

Tables size the columns that hold hashes and timestamps to their longest value, and timestamps
use non-breaking spaces, so neither is ever wrapped mid-string; the other columns share the rest.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from governance.report import charts, explanations
from governance.report.mapping import NOT_RECORDED
from governance.report.render import number, section_titles, timestamp

_FONTS = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
_NBSP = "\u00a0"
_PAD = 2.2  # mm of cell padding and rule, both sides together
_MOST_LINES = 30  # lines of a table cell; twice that (words wrapped early) still fits a page
_CLIPPED = " … (clipped here; the JSON report has it whole)"
_NARROWEST = 14.0  # mm a column keeps whole words up to when a table cannot keep every word whole


def ts(value: Any) -> str:
    return timestamp(value).replace(" ", _NBSP) if value else "-"


class _Pdf(FPDF):
    def __init__(self, model: str, titles: dict[str, str], evidence: dict[str, bool]) -> None:
        super().__init__(format="A4")
        self.model = model
        self.titles = titles
        self.evidence = evidence
        self.add_font("DejaVu", "", str(_FONTS / "DejaVuSans.ttf"))
        self.add_font("DejaVu", "B", str(_FONTS / "DejaVuSans-Bold.ttf"))
        self.set_auto_page_break(auto=True, margin=15)
        self.set_title(f"Audit report: {model}")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7)
        self.cell(0, 5, f"Audit report {self.model} · page {self.page_no()}", align="C")

    def heading(self, text: str, size: int = 13, link: int | None = None) -> None:
        if self.will_page_break(24):  # no heading alone at the foot of a page
            self.add_page()
        self.ln(2)
        self.set_font("DejaVu", "B", size)
        if link is not None:
            self.set_link(link, page=self.page_no(), y=self.get_y())
        self.multi_cell(0, 7, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font("DejaVu", "", 9)

    def para(self, text: str) -> None:
        self.set_font("DejaVu", "", 9)
        self.multi_cell(0, 4.6, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def not_recorded(self, what: str = "") -> None:
        self.set_font("DejaVu", "B", 9)
        self.multi_cell(
            0,
            4.6,
            f"{what}{NOT_RECORDED.capitalize() if not what else NOT_RECORDED}.",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        self.set_font("DejaVu", "", 9)

    def rows(
        self,
        header: list[str],
        rows: list[list[Any]],
        weights: tuple[float, ...],
        *,
        nowrap: tuple[int, ...] = (),
        empty: str = "(none)",
    ) -> None:
        """A table; the columns in ``nowrap`` are as wide as their longest cell."""
        if not rows:
            self.para(empty)
            return
        self.set_font("DejaVu", "", 7.5)
        cells = [["-" if v is None or v == "" else str(v) for v in row] for row in rows]
        self.set_font("DejaVu", "B", 7.5)
        heads = [self.get_string_width(h) for h in header]
        head_words = [max((self.get_string_width(w) for w in h.split()), default=0.0) for h in header]
        self.set_font("DejaVu", "", 7.5)
        fixed = {i: max(heads[i], *(self.get_string_width(c[i]) for c in cells)) + _PAD for i in nowrap}
        words = {  # the header's words as drawn, in bold
            i: max(
                head_words[i], *(self.get_string_width(word) for c in cells for word in c[i].split() or [""])
            )
            + _PAD
            for i in range(len(header))
            if i not in fixed
        }
        widths = _share(self.epw - sum(fixed.values()), weights, words, fixed)
        with self.table(
            col_widths=widths,
            width=min(sum(widths), self.epw - 0.01),
            align="LEFT",
            text_align="LEFT",
            line_height=3.8,
            first_row_as_headings=True,
        ) as t:
            t.row(header)
            for row in cells:
                t.row([c if i in fixed else self._clip(c, widths[i]) for i, c in enumerate(row)])
        self.set_font("DejaVu", "", 9)
        self.ln(1)

    def _clip(self, text: str, width: float) -> str:
        """``text`` cut to about ``_MOST_LINES`` lines of a ``width`` column: fpdf cannot draw a
        row higher than a page (a 10,000-character comment); the JSON report keeps it whole."""
        line = width - _PAD

        def lines(part: str) -> float:
            return (self.get_string_width(part) + part.count("\n") * line) / line

        if lines(text) <= _MOST_LINES:
            return text
        keep = len(text)
        while keep and lines(text[:keep]) > _MOST_LINES - 2:
            keep = int(keep * 0.9)
        return text[:keep] + _CLIPPED

    def section(self, key: str, links: dict[str, int]) -> None:
        self.heading(self.titles[key], link=links[key])
        if key in self.evidence and not self.evidence[key]:
            self.not_recorded()


def _share(
    room: float, weights: tuple[float, ...], least: dict[int, float], fixed: dict[int, float]
) -> tuple[float, ...]:
    """Split ``room`` among the free columns by weight, none narrower than its longest word if it fits."""
    width = dict(fixed)
    free = dict(least)
    if sum(free.values()) > room:  # cannot keep every word whole: shares by need
        room = max(room, 20)
        # each column keeps its longest word up to _NARROWEST first, so one very long word (a
        # hostile feature name) cannot squeeze the others below a character's width
        least_kept = {i: min(free[i], _NARROWEST) for i in free}
        if sum(least_kept.values()) > room:
            least_kept = dict.fromkeys(free, 0.0)
        spare = room - sum(least_kept.values())
        total = sum(free[i] - least_kept[i] for i in free) or 1.0
        width.update({i: least_kept[i] + spare * (free[i] - least_kept[i]) / total for i in free})
        return tuple(width[i] for i in range(len(weights)))
    while free:
        total = sum(weights[i] for i in free) or 1.0
        share = {i: room * weights[i] / total for i in free}
        short = [i for i in free if share[i] < free[i]]
        if not short:
            width.update(share)
            break
        for i in short:
            width[i] = free.pop(i)
            room -= width[i]
    return tuple(width[i] for i in range(len(weights)))


def _answered(row: dict[str, Any], titles: dict[str, str]) -> str:
    if not row["answered_in"]:
        return NOT_RECORDED
    text = "; ".join(titles[s] for s in row["answered_in"])
    missing = ", ".join(titles[s] for s in row["missing"])
    return text + (f" ({NOT_RECORDED}: {missing})" if missing else "")


def _pairs(value: Any) -> str:
    """A settings dict as ``key=value, ...``: breaks between settings, never inside a name."""
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items()) or "none"
    return _fmt(value)


def _fmt(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


def to_pdf(report: dict[str, Any]) -> bytes:
    """The report as PDF: a title page with the contents, then each section in the report's order."""
    titles = section_titles(report)
    figs = charts.figures(report)
    pdf = _Pdf(report["description"]["model"], titles, report["report"]["evidence"])
    links = _front_matter(pdf, report)
    for s in report["report"]["sections"]:
        key = s["key"]
        if key in _NEW_PAGE:
            pdf.add_page()
        pdf.section(key, links)
        for fig in figs.get(key, []):
            pdf.image(io.BytesIO(charts.png(fig)), w=150)
        body = _BODIES.get(key)
        if body is not None:  # a section without a body of its own here is its heading alone
            body(pdf, report)
    return bytes(pdf.output())


def _front_matter(pdf: _Pdf, report: dict[str, Any]) -> dict[str, int]:
    """The title, the note on missing evidence and the contents; returns each section's link."""
    pdf.add_page()
    pdf.heading(f"Audit report: {report['description']['model']}", 16)
    pdf.para(f"Generated {ts(report['report']['generated_at'])}. All times are UTC.")
    pdf.para(
        f'Sections marked "{NOT_RECORDED}" hold no evidence in the registry; the mapping tables cite only '
        "sections that do."
    )
    pdf.heading("Contents", 12)
    links = {s["key"]: pdf.add_link() for s in report["report"]["sections"]}
    for s in report["report"]["sections"]:
        absent = s["key"] in pdf.evidence and not pdf.evidence[s["key"]]
        pdf.set_font("DejaVu", "", 9)
        pdf.cell(
            0,
            4.8,
            pdf.titles[s["key"]] + (f" ({NOT_RECORDED})" if absent else ""),
            link=links[s["key"]],
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
    return links


def _description(pdf: _Pdf, report: dict[str, Any]) -> None:
    d = report["description"]
    purpose = (
        f"{d['intended_purpose']} ({d['intended_purpose_source']})" if d["intended_purpose"] else NOT_RECORDED
    )
    pdf.rows(
        ["field", "value"],
        [
            ["model", d["model"]],
            ["intended purpose", purpose],
            ["intended use", d["intended_use"]],
            [
                "risk tier",
                f"{d['risk_tier']} (assessed {d['risk_assessed'] or NOT_RECORDED}): "
                f"{d['risk_reason'] or NOT_RECORDED}",
            ],
            ["stage", d["stage"]],
            ["description", d["description"] or NOT_RECORDED],
            ["framework / task", f"{d['framework']} / {d['task'] or NOT_RECORDED}"],
            ["outputs", d["outputs"]],
            ["registered by", f"{d['registered_by']} on {ts(d['registered_at'])}"],
            ["artifact sha256", d["artifact_sha256"]],
            ["artifact size", f"{d['artifact_size_bytes']} bytes"],
            ["license", d["license"] or NOT_RECORDED],
            ["base model", d["base_model"] or "none"],
            ["MLflow run", d["mlflow_run_id"] or NOT_RECORDED],
            ["hyperparameters", _fmt(d["hyperparameters"])],
            ["seed", d["seed"] if d["seed"] is not None else NOT_RECORDED],
        ],
        (1, 4),
        nowrap=(0,),
    )


def _limitations(pdf: _Pdf, report: dict[str, Any]) -> None:
    lim = report["limitations"]
    pdf.para("Limitations:")
    pdf.rows(
        ["limitation", "source"],
        [[x["item"], x["source"]] for x in lim["limitations"]],
        (5, 1),
        empty=NOT_RECORDED,
    )
    pdf.para("Out-of-scope uses:")
    pdf.rows(
        ["out of scope", "source"],
        [[x["item"], x["source"]] for x in lim["out_of_scope"]],
        (5, 1),
        empty=NOT_RECORDED,
    )


def _oversight(pdf: _Pdf, report: dict[str, Any]) -> None:
    if report["oversight"]["measures"]:
        pdf.rows(
            ["measure", "source"],
            [[x["measure"], x["source"]] for x in report["oversight"]["measures"]],
            (4, 2),
        )


def _lineage(pdf: _Pdf, report: dict[str, Any]) -> None:
    lin = report["lineage"]
    pdf.para(
        f"Compliance: {'compliant' if lin['compliant'] else str(len(lin['violations'])) + ' violation(s)'}"
    )
    pdf.rows(
        ["license", "used by"], [[x["license"], ", ".join(x["used_by"])] for x in lin["licenses"]], (1, 2)
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
        (30, 12, 30, 28),
        empty="none required",
    )


def _data_governance(pdf: _Pdf, report: dict[str, Any]) -> None:
    dg = report["data_governance"]
    pdf.rows(
        ["dataset", "role", "rows", "license", "personal data", "legal basis", "jurisdictions", "source"],
        [
            [
                x["dataset"],
                x["role"],
                x["rows"],
                x["license"],
                x["personal_data"],
                x["legal_basis"],
                ", ".join(x["jurisdictions"]),
                x["source"] or NOT_RECORDED,
            ]
            for x in dg["datasets"]
        ],
        (16, 8, 7, 12, 11, 16, 10, 20),
    )
    pdf.rows(
        ["dataset", "sha256"], [[x["dataset"], x["sha256"]] for x in dg["datasets"]], (1, 1), nowrap=(1,)
    )
    pdf.para(f"Inputs: {', '.join(dg['features']) or NOT_RECORDED}")


def _data_quality(pdf: _Pdf, report: dict[str, Any]) -> None:
    pdf.rows(
        ["source", "kind", "status", "finding"],
        [
            [f["source"], f["kind"], f.get("status"), f.get("summary") or _fmt(f.get("report"))]
            for f in report["data_quality"]["findings"]
        ],
        (22, 14, 12, 52),
        empty=NOT_RECORDED,
    )


def _assessment_rows(report: dict[str, Any]) -> list[list[Any]]:
    """The declared robustness assessments, shown under evaluation and again under robustness."""
    return [
        [m["epsilon"], number(m["worst_case"]), number(m["clean"]), m["how"], ts(m["at"])]
        for m in report["evaluation"]["robustness"]
    ]


_ASSESSMENT_HEADER = ["ε", "worst case", "clean", "how measured", "when"]


def _evaluation(pdf: _Pdf, report: dict[str, Any]) -> None:
    pdf.para("Accuracy:")
    pdf.rows(
        ["metric", "value", "how measured"],
        [[m["metric"], number(m["value"]), m["how"]] for m in report["evaluation"]["accuracy"]],
        (2, 1, 6),
        empty=NOT_RECORDED,
    )
    pdf.para("Robustness:")
    pdf.rows(_ASSESSMENT_HEADER, _assessment_rows(report), (1, 2, 2, 8, 1), nowrap=(4,), empty=NOT_RECORDED)


def _fairness(pdf: _Pdf, report: dict[str, Any]) -> None:
    if report["fairness"]["results"]:
        pdf.rows(
            ["source", "metric", "value", "when"],
            [
                [f["source"], f["metric"], number(f["value"]), ts(f["at"])]
                for f in report["fairness"]["results"]
            ],
            (3, 3, 1, 1),
            nowrap=(3,),
        )


def _robustness(pdf: _Pdf, report: dict[str, Any]) -> None:
    rob = report["robustness"]
    for curve in rob["curves"]:
        pdf.para(f"Monitor run, window ending {ts(curve['window_end'])} ({curve['status']}):")
        pdf.rows(
            ["epsilon", "worst-case accuracy"],
            [[e, f"{w:.4f}"] for e, w in zip(curve["epsilons"], curve["worst_case"], strict=True)],
            (1, 1),
        )
    if rob["assessments"]:
        pdf.para("Assessments:")
        pdf.rows(_ASSESSMENT_HEADER, _assessment_rows(report), (1, 2, 2, 8, 1), nowrap=(4,))
    if rob["gates"]:
        pdf.para("Retrain gate evidence:")
        pdf.rows(
            ["job", "ε", "challenger", "champion", "result", "detail"],
            [
                [
                    g["job"],
                    g["metrics"].get("epsilon"),
                    number(g["metrics"].get("challenger_worst_case")),
                    number(g["metrics"].get("champion_worst_case")),
                    "passed" if g["passed"] else "failed",
                    g["detail"],
                ]
                for g in rob["gates"]
            ],
            (1, 1, 2, 2, 2, 10),
        )


def _explanations(pdf: _Pdf, report: dict[str, Any]) -> None:
    explanations.draw_pdf(pdf, report, ts, number)


def _monitoring(pdf: _Pdf, report: dict[str, Any]) -> None:
    mon = report["monitoring"]
    for series in mon["drift"]:
        pdf.para(f"{series['monitor']} ({series['kind']}):")
        pdf.rows(
            ["window end", "status", "metrics"],
            [
                [ts(r["window_end"]), r["status"], ", ".join(f"{k}={v:.4g}" for k, v in r["metrics"].items())]
                for r in series["runs"]
            ],
            (1, 1, 5),
            nowrap=(0, 1),
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
                ts(a["opened_at"]),
                ts(a["resolved_at"]),
                a["message"],
            ]
            for a in mon["alerts"]
        ],
        (1, 4, 2, 2, 1, 1, 8),
        nowrap=(0, 4, 5),
        empty="no alerts",
    )


def _monitoring_plan(pdf: _Pdf, report: dict[str, Any]) -> None:
    if report["monitoring_plan"]["monitors"]:
        pdf.rows(
            ["monitor", "kind", "schedule", "thresholds", "channels", "retrain policy", "since (UTC)"],
            [
                [
                    m["name"] + ("" if m["enabled"] else " (disabled)"),
                    m["kind"],
                    f"{m['schedule']} / {m['window_seconds']} s",
                    _pairs(m["thresholds"]),
                    "; ".join(m["channels"]) or "none",
                    _pairs(m["retrain_policy"]) if m["retrain_policy"] else "none",
                    ts(m["since"])[:10],
                ]
                for m in report["monitoring_plan"]["monitors"]
            ],
            (3, 2, 2, 4, 4, 4, 1),
            nowrap=(6,),
        )


def _change_plan(pdf: _Pdf, report: dict[str, Any]) -> None:
    for item in report["change_plan"].get("items", []):
        pdf.para(_fmt(item))


def _incidents(pdf: _Pdf, report: dict[str, Any]) -> None:
    inc = report["incidents"]
    if inc["kept"]:
        pdf.rows(
            ["#", "monitor", "severity", "status", "opened", "message", "notified", "handling"],
            [
                [
                    i["id"],
                    i["monitor"],
                    i["severity"],
                    i["status"],
                    ts(i["opened_at"]),
                    i["message"],
                    ", ".join(i["notified"]) or "-",
                    "; ".join(i["handling"]) or "none recorded",
                ]
                for i in inc["incidents"]
            ],
            (1, 3, 2, 2, 1, 6, 3, 5),
            nowrap=(0, 4),
            empty="No high-severity alerts while monitored.",
        )


def _retraining(pdf: _Pdf, report: dict[str, Any]) -> None:
    for j in report["retraining"]["jobs"]:
        outcome = f" → {j['candidate']} ({j['stage']})" if j["candidate"] else ""
        pdf.para(
            f"Retrain job {j['id']} of {j['model']}: {j['status']}{outcome}. Reason: {j['reason']}. "
            f"Created {ts(j['created_at'])}, finished {ts(j['finished_at'])}"
            + (f"; trained on {j['training_set']}" if j["training_set"] else "")
            + (f"; MLflow run {j['mlflow_run_id']}" if j["mlflow_run_id"] else "")
            + "."
        )
        if j["gates"]:
            pdf.rows(
                ["gate", "result", "evidence"],
                [[g["gate"], "passed" if g["passed"] else "failed", g["detail"]] for g in j["gates"]],
                (1, 1, 6),
                nowrap=(0, 1),
            )


def _lifecycle(pdf: _Pdf, report: dict[str, Any]) -> None:
    pdf.rows(
        ["at", "from", "to", "actor", "reason"],
        [
            [ts(t["at"]), t["from"], t["to"], t["actor"], t["reason"] or NOT_RECORDED]
            for t in report["lifecycle"]["stage_history"]
        ],
        (1, 2, 2, 3, 6),
        nowrap=(0,),
    )


def _responsibilities(pdf: _Pdf, report: dict[str, Any]) -> None:
    p = report["responsibilities"]
    validator = (
        [p["validator"]["name"], p["validator"]["role"], ts(p["validator"]["at"])]
        if p["validator"]
        else [NOT_RECORDED, NOT_RECORDED, "-"]
    )
    people = [
        ["owner", p["owner"]["name"], p["owner"]["role"], ts(p["owner"]["at"])],
        ["developer", p["developer"]["name"], p["developer"]["role"], ts(p["developer"]["at"])],
        ["validator", *validator],
        *[
            [
                f"approver ({a['decision']}, request {a['request']})",
                a["name"],
                f"{a['role']}, {a['verification']}",
                ts(a["at"]),
            ]
            for a in p["approvers"]
        ],
    ]
    pdf.rows(["responsibility", "who", "role", "date"], people, (3, 2, 5, 1), nowrap=(3,))


def _approvals(pdf: _Pdf, report: dict[str, Any]) -> None:
    ap = report["approvals"]
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
                ts(a["at"]),
                a["comment"],
            ]
            for q in ap["requests"]
            for a in q["decisions"]
        ],
        (2, 2, 2, 4, 1, 4),
        nowrap=(4,),
    )


def _audit(pdf: _Pdf, report: dict[str, Any]) -> None:
    au = report["audit"]
    verdict = "verifies" if au["verified"] else f"BROKEN: {au['reason']}"
    pdf.para(f"Audit chain {verdict} over {au['events']} events.")
    pdf.rows(["head hash"], [[au["head_hash"] or "-"]], (1,), nowrap=(0,))
    pdf.rows(
        ["#", "at", "actor", "action", "hash"],
        [[e["id"], ts(e["at"]), e["actor"], e["action"], e["hash"][:16]] for e in au["model_events"]],
        (1, 1, 4, 4, 1),
        nowrap=(0, 1, 4),
    )


def _mapping(pdf: _Pdf, report: dict[str, Any]) -> None:
    for label, key in (
        ("EU AI Act, Annex IV (technical documentation):", "eu_ai_act_annex_iv"),
        ("SR 26-2 (model risk management; replaced SR 11-7 in April 2026):", "sr_26_2"),
    ):
        pdf.para(label)
        pdf.rows(
            ["point", "requirement", "answered in", "evidence"],
            [
                [m["point"], m["requirement"], _answered(m, pdf.titles), m["evidence"]]
                for m in report["mapping"][key]
            ],
            (2, 8, 8, 1),
            nowrap=(3,),
        )
    pdf.para("SR 11-7 model inventory (superseded; for older audits):")
    pdf.rows(
        ["field", "value", "section", "evidence"],
        [
            [m["field"], m["value"], pdf.titles[m["section"]], m["evidence"]]
            for m in report["mapping"]["sr_11_7"]
        ],
        (2, 6, 3, 1),
        nowrap=(0, 3),
    )


def _signoff(pdf: _Pdf, report: dict[str, Any]) -> None:
    pdf.rows(
        ["role", "name", "recorded decision", "signature", "date"],
        [
            [
                s["role"],
                s["name"] or NOT_RECORDED,
                f"approved {ts(s['signed'])}" if s["signed"] else "none recorded",
                " ",
                " ",
            ]
            for s in report["signoff"]["lines"]
        ],
        (3, 3, 3, 4, 2),
    )


# Each section's body, drawn under its heading (and its charts, from charts.figures).
_BODIES: dict[str, Callable[[_Pdf, dict[str, Any]], None]] = {
    "description": _description,
    "limitations": _limitations,
    "oversight": _oversight,
    "lineage": _lineage,
    "data_governance": _data_governance,
    "data_quality": _data_quality,
    "evaluation": _evaluation,
    "fairness": _fairness,
    "robustness": _robustness,
    explanations.KEY: _explanations,
    "monitoring": _monitoring,
    "monitoring_plan": _monitoring_plan,
    "change_plan": _change_plan,
    "incidents": _incidents,
    "retraining": _retraining,
    "lifecycle": _lifecycle,
    "responsibilities": _responsibilities,
    "approvals": _approvals,
    "audit": _audit,
    "mapping": _mapping,
    "signoff": _signoff,
}
_NEW_PAGE = frozenset({"mapping"})  # the mapping tables start on a page of their own
