"""The report's section "What the model relies on": the version's kept global attributions and the
attribution-drift monitors' runs over time (read-only, from what the registry stored).

The section's data is built by :func:`section`; :func:`draw_pdf` writes it into the PDF with the
report's own table and paragraph helpers, and ``templates/report.html`` into the HTML.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from governance.explanation import service as explanation_service
from governance.mlmodel.models import ModelVersion
from governance.monitoring import service as monitoring_service
from governance.monitoring.models import Monitor

KEY = "explanations"
TITLE = "What the model relies on"
TOP = 10
MAX_RUNS = 200


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _drift(session: Session, monitors: list[Monitor]) -> list[dict[str, Any]]:
    found = []
    for monitor in monitors:
        if monitor.kind != "attribution_drift":
            continue
        runs = [
            r
            for r in reversed(monitoring_service.runs(session, monitor=monitor, limit=MAX_RUNS))
            if r.status != "running"
        ]
        found.append(
            {
                "monitor": monitor.name,
                "threshold": _float((monitor.thresholds or {}).get("ndcg")),
                "runs": [
                    {
                        "window_end": r.window_end.isoformat(),
                        "version": r.model_version.ref if r.model_version is not None else None,
                        "status": r.status,
                        "ndcg": _float((r.metrics or {}).get("ndcg")),
                        "value_change": _float((r.metrics or {}).get("value_change")),
                        "current_top": [str(f) for f in (r.details or {}).get("current_top") or []][:3],
                        "summary": (r.details or {}).get("summary") or r.error,
                    }
                    for r in runs
                ],
            }
        )
    return found


def section(session: Session, mv: ModelVersion, monitors: list[Monitor]) -> dict[str, Any]:
    """The kept attributions of ``mv`` (or ``recorded: False``) and the attribution-drift history."""
    kept = explanation_service.latest(session, mv=mv)
    drift = _drift(session, monitors)
    data: dict[str, Any] = {"recorded": kept is not None, "drift": drift}
    if kept is None:
        data["items"] = [
            f"No global attributions were recorded for {mv.ref}: they are computed at registration "
            "for a PyTorch model with a tabular reference or training dataset, and for every retrained "
            "candidate."
        ]
        return data
    found = kept.to_dict()
    top = kept.top(TOP)
    lead = ", ".join(f"{t['feature']} ({t['share']:.0%})" for t in top[:3])
    data.update(
        {
            "method": found["method"],
            "method_name": found["method_name"],
            "baseline": found["baseline"],
            "rows": found["n_rows"],
            "dataset": found["dataset"],
            "features": len(found["attributions"]),
            "source": found["source"],
            "recorded_by": found["recorded_by"],
            "at": found["at"],
            "seconds": found["seconds"],
            "warnings": found["warnings"],
            "top": top,
            "items": [
                f"{mv.ref} relies most on {lead} of the total attribution over {len(found['attributions'])} "
                f"features: {found['method_name']}, mean absolute attribution over {found['n_rows']} rows of "
                f"{found['dataset'] or 'its data'} from their mean, recorded by {found['source']}.",
                *[f"Warning: {w}" for w in found["warnings"]],
            ],
        }
    )
    return data


def has_evidence(data: dict[str, Any]) -> bool:
    return bool(data["recorded"]) or any(d["runs"] for d in data["drift"])


def draw_pdf(pdf: Any, report: dict[str, Any], ts: Any, number: Any) -> None:
    """The section's body in the PDF (its heading is drawn before), with the report's own helpers
    (``para``, ``rows``, ``not_recorded``)."""
    data = report[KEY]
    if not data["recorded"]:
        pdf.not_recorded("Global attributions: ")
    for item in data["items"]:
        pdf.para(item)
    if data["recorded"]:
        pdf.rows(
            ["feature", "share of the total", "mean |attribution|"],
            [[t["feature"], f"{t['share']:.1%}", number(t["attribution"])] for t in data["top"]],
            (5, 2, 2),
        )
    for series in data["drift"]:
        pdf.para(f"Attribution drift, {series['monitor']} (alarm below NDCG {series['threshold'] or 0.9}):")
        pdf.rows(
            ["window end", "version", "status", "NDCG", "value change", "top features then"],
            [
                [
                    ts(r["window_end"]),
                    r["version"],
                    r["status"],
                    number(r["ndcg"]),
                    number(r["value_change"]),
                    ", ".join(r["current_top"]),
                ]
                for r in series["runs"]
            ],
            (1, 2, 1, 1, 1, 5),
            nowrap=(0,),
            empty="no run yet",
        )
