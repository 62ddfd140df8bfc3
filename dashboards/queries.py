"""What the pages show, read through the governance services (no writes)."""

from __future__ import annotations

import json
import math
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from governance.approval import service as approval_service
from governance.approval.service import ApprovalPolicy
from governance.compliance import service as compliance_service
from governance.explanation import service as explanation_service
from governance.explanation.models import ModelExplanation
from governance.mlmodel import service as model_service
from governance.mlmodel.models import ModelVersion
from governance.monitoring import service as monitoring_service
from governance.monitoring.models import Alert, Monitor, MonitorRun, RetrainJob
from governance.policy import service as policy_service

DRIFT_KINDS = ("data_drift", "concept_drift", "model_drift", "attribution_drift")
FINISHED = ("ok", "warning", "breach", "error")


def compliance_report(session: Session, mv: ModelVersion) -> compliance_service.ComplianceReport:
    """The version's compliance findings: the one call every page makes (switch here to stored results)."""
    return compliance_service.check(session, mv=mv)


def worst(statuses: list[str]) -> str | None:
    order = ("error", "breach", "warning", "ok")
    for status in order:
        if status in statuses:
            return status
    return None


def approval_status(session: Session, mv: ModelVersion, policy: ApprovalPolicy) -> str:
    _, levels = policy_service.levels_for(session, mv=mv, seed=policy.to_document())
    if not levels:
        return "not required"
    latest = approval_service.latest_for(session, mv=mv)
    if latest is None:
        return "not requested"
    return f"{latest.status} {len(latest.approvers())}/{latest.required}"


def round_number(value: float, digits: int = 3) -> float | int:
    """A metric as a person reads it: three significant digits (0.9561 -> 0.956, 5040.2 -> 5040)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) or not math.isfinite(value):
        return value
    if value == 0:
        return 0.0
    places = max(0, digits - 1 - math.floor(math.log10(abs(value))))
    rounded = round(value, places)
    return int(rounded) if places == 0 else rounded


def rounded(values: Any) -> Any:
    """``values`` with every float rounded by ``round_number`` (dicts and lists walked)."""
    if isinstance(values, dict):
        return {k: rounded(v) for k, v in values.items()}
    if isinstance(values, list | tuple):
        return [rounded(v) for v in values]
    if isinstance(values, float):
        return round_number(values)
    return values


def compact_json(value: Any) -> str:
    return json.dumps(rounded(value), ensure_ascii=False, separators=(", ", ": "), default=str)


def owners(session: Session) -> list[str]:
    """Who registered versions: the inventory's owner filter (the registry has no other owner yet)."""
    return list(
        session.scalars(select(ModelVersion.registered_by).distinct().order_by(ModelVersion.registered_by))
    )


def _numeric(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in metrics.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(float(v))
    }


PERFORMANCE = ("accuracy", "f1", "roc_auc")


def monitors_for(session: Session, mv: ModelVersion) -> list[Monitor]:
    """The monitors whose runs the model page shows for ``mv`` (the one place to change which)."""
    return monitoring_service.list_monitors(session, model_version_id=mv.id)


def _label(run: MonitorRun) -> str:
    return run.window_end.strftime("%Y-%m-%d %H:%M")


def _drift_chart(monitor: Monitor, finished: list[MonitorRun]) -> dict[str, Any] | None:
    """One y-axis: the metrics the monitor judges by a threshold (else its first numeric metric);
    counts and the rest go to the runs table, not onto a second axis."""
    values = [_numeric(r.metrics or {}) for r in finished]
    names = sorted({k for v in values for k in v})
    if not names:
        return None
    limits = _numeric({**(monitor.thresholds or {}), **(finished[-1].thresholds or {})})
    judged = [n for n in names if n in limits] or names[:1]
    return {
        "kind": "drift",
        "monitor": monitor.name,
        "monitor_kind": monitor.kind,
        "labels": [_label(r) for r in finished],
        "statuses": [r.status for r in finished],
        "series": {n: [v.get(n) for v in values] for n in judged},
        "thresholds": {n: limits[n] for n in judged if n in limits},
    }


def _estimation_chart(
    monitor: Monitor, finished: list[MonitorRun], realized_later: dict[tuple[str, str], float]
) -> dict[str, Any] | None:
    """Performance estimated before labels (CBPE) with its band and minimum; beside it the realized
    figure of the same window: stored with the estimate when labels were there, else the one the
    concept-drift monitor measured once they arrived (``realized_later``: (window label, metric))."""
    values = [_numeric(r.metrics or {}) for r in finished]
    name = next((n for n in PERFORMANCE if any(f"estimated_{n}" in v for v in values)), None)
    if name is None:
        return None
    labels = [_label(r) for r in finished]
    limits = _numeric(finished[-1].thresholds or {})
    return {
        "kind": "performance",
        "monitor": monitor.name,
        "monitor_kind": monitor.kind,
        "metric": name,
        "labels": labels,
        "statuses": [r.status for r in finished],
        "values": [v.get(f"estimated_{name}") for v in values],
        "low": [v.get(f"lower_{name}") for v in values],
        "high": [v.get(f"upper_{name}") for v in values],
        "baseline": None,
        "threshold": limits.get(name),
        "estimated": [True] * len(finished),
        "realized": [
            v.get(f"realized_{name}", realized_later.get((label, name)))
            for v, label in zip(values, labels, strict=True)
        ],
    }


def _realized_by_window(
    monitors: list[Monitor], runs_of: dict[int, list[MonitorRun]]
) -> dict[tuple[str, str], float]:
    """The realized metrics the concept-drift monitors measured, by (window label, metric)."""
    found: dict[tuple[str, str], float] = {}
    for monitor in monitors:
        if monitor.kind != "concept_drift":
            continue
        for r in runs_of.get(monitor.id, []):
            for name, value in _numeric(r.metrics or {}).items():
                if name in PERFORMANCE:
                    found[(_label(r), name)] = value
    return found


def _performance_chart(monitor: Monitor, finished: list[MonitorRun]) -> dict[str, Any] | None:
    """Realized (or estimated) accuracy/F1 over windows with its interval and the breach line."""
    values = [_numeric(r.metrics or {}) for r in finished]
    name = next((n for n in PERFORMANCE if any(n in v for v in values)), None)
    if name is None:
        return None
    limits = _numeric(finished[-1].thresholds or {})
    line = None
    if f"baseline_{name}" in limits and f"max_drop_{name}" in limits:
        line = limits[f"baseline_{name}"] - limits[f"max_drop_{name}"]
    estimated = [bool((r.details or {}).get("estimated")) for r in finished]
    return {
        "kind": "performance",
        "monitor": monitor.name,
        "monitor_kind": monitor.kind,
        "metric": name,
        "labels": [_label(r) for r in finished],
        "statuses": [r.status for r in finished],
        "values": [v.get(name) for v in values],
        "low": [v.get(f"{name}_ci_low") for v in values],
        "high": [v.get(f"{name}_ci_high") for v in values],
        "baseline": limits.get(f"baseline_{name}"),
        "threshold": line,
        "estimated": estimated,
    }


def _robustness(monitor: Monitor, finished: list[MonitorRun]) -> dict[str, Any] | None:
    """The latest curve per attack (ε in units of each feature's range) and the history of runs."""
    curves = []
    for r in finished:
        for source in (r.details or {}, r.metrics or {}):
            eps, worst_case = source.get("epsilons"), source.get("worst_case")
            if isinstance(eps, list) and isinstance(worst_case, list):
                attacks = source.get("attacks") if isinstance(source.get("attacks"), dict) else {}
                curves.append(
                    {
                        "window_end": _label(r),
                        "status": r.status,
                        "epsilons": eps,
                        "worst_case": worst_case,
                        "attacks": attacks,
                        "clean": _numeric(r.metrics or {}).get("clean_accuracy"),
                        "space": source.get("space"),
                    }
                )
                break
    if not curves:
        return None
    return {"monitor": monitor.name, "latest": curves[-1], "history": curves[-6:]}


def _heat(score: Any, threshold: Any, drifted: bool) -> int:
    """0..4: how close a column's score came to its threshold (4: drifted)."""
    if drifted:
        return 4
    try:
        ratio = float(score) / float(threshold)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0
    if not math.isfinite(ratio):
        return 0
    return 0 if ratio < 0.25 else 1 if ratio < 0.5 else 2 if ratio < 0.75 else 3


def _column_heatmap(monitor: Monitor, finished: list[MonitorRun], windows: int = 12) -> dict[str, Any] | None:
    """Per-column drift over the latest windows (columns that drifted most often first)."""
    shown = [r for r in finished if isinstance((r.details or {}).get("columns"), list)][-windows:]
    if not shown:
        return None
    cells: dict[str, dict[int, dict[str, Any]]] = {}
    for i, r in enumerate(shown):
        for c in r.details["columns"]:
            if isinstance(c, dict) and c.get("column") is not None:
                cells.setdefault(str(c["column"]), {})[i] = {
                    "heat": _heat(c.get("score"), c.get("threshold"), bool(c.get("drift_detected"))),
                    "score": round_number(c["score"]) if isinstance(c.get("score"), int | float) else None,
                    "method": c.get("method"),
                    "drifted": bool(c.get("drift_detected")),
                }
    order = sorted(cells, key=lambda n: (-sum(v["drifted"] for v in cells[n].values()), n))[:40]
    return {
        "monitor": monitor.name,
        "windows": [_label(r) for r in shown],
        "rows": [{"column": n, "cells": [cells[n].get(i) for i in range(len(shown))]} for n in order],
        "more": max(0, len(cells) - len(order)),
    }


def _share_heat(change: float) -> int:
    """0..4: how far a feature's share of the attribution moved from the reference's (points)."""
    moved = abs(change)
    return 0 if moved < 0.01 else 1 if moved < 0.025 else 2 if moved < 0.05 else 3 if moved < 0.1 else 4


def _shares(values: Any) -> dict[str, float]:
    numbers = _numeric(values) if isinstance(values, dict) else {}
    largest = max((abs(v) for v in numbers.values()), default=0.0)
    if largest == 0:
        return {}
    total = math.fsum(abs(v) / largest for v in numbers.values())  # scaled: huge values cannot overflow
    return {k: abs(v) / largest / total for k, v in numbers.items()}


def _attribution_heatmap(
    monitor: Monitor, finished: list[MonitorRun], windows: int = 12, features: int = 15
) -> dict[str, Any] | None:
    """Features x windows of an attribution-drift monitor: each cell the feature's share of the
    window's total attribution, coloured by how far it moved from its share in the reference."""
    shown = []
    for r in finished:
        details = r.details or {}
        current = _shares((details.get("current") or {}).get("attributions"))
        reference = _shares((details.get("reference") or {}).get("attributions"))
        if current and reference:
            shown.append((r, current, reference))
    shown = shown[-windows:]
    if not shown:
        return None
    reference = shown[-1][2]
    ranked = sorted(reference, key=lambda n: -reference[n])
    extra = [n for _, current, _ in shown for n in sorted(current, key=lambda n: -current[n])[:3]]
    order = list(dict.fromkeys([*ranked[: features - 3], *extra, *ranked]))[:features]
    rows = []
    for name in order:
        cells = []
        for _, current, ref in shown:
            share, before = current.get(name, 0.0), ref.get(name, 0.0)
            cells.append(
                {
                    "share": round(share * 100, 1),
                    "reference": round(before * 100, 1),
                    "heat": _share_heat(share - before),
                }
            )
        rows.append({"feature": name, "reference": round(reference.get(name, 0.0) * 100, 1), "cells": cells})
    return {
        "monitor": monitor.name,
        "windows": [_label(r) for r, _, _ in shown],
        "statuses": [r.status for r, _, _ in shown],
        "ndcg": [round_number(_numeric(r.metrics or {}).get("ndcg", math.nan)) for r, _, _ in shown],
        "rows": rows,
        "more": max(0, len(reference) - len(order)),
    }


def explanation_view(found: ModelExplanation | None, k: int = 10) -> dict[str, Any] | None:
    """What a version relies on, for a page: its top ``k`` features with their shares (percent)."""
    if found is None:
        return None
    data = found.to_dict()
    top = found.top(k)
    largest = max((t["share"] for t in top), default=0.0) or 1.0
    return {
        **{key: data[key] for key in ("method", "method_name", "baseline", "n_rows", "dataset", "source")},
        "seconds": round_number(data["seconds"]),
        "at": found.at,
        "warnings": data["warnings"],
        "features": len(data["attributions"]),
        "top": [
            {
                "feature": t["feature"],
                "share": round(t["share"] * 100, 1),
                "attribution": round_number(t["attribution"]),
                "width": round(100 * t["share"] / largest, 1),
            }
            for t in top
        ],
    }


def false_alarm_rate(thresholds: dict[str, Any] | None, kind: str | None = None) -> str | None:
    """The configured false-positive rate behind a verdict, or its threshold where a kind has no
    rate, as a person reads it (measured rates: README, benchmarks/monitor_calibration.py)."""
    t = {k: v for k, v in (thresholds or {}).items() if isinstance(v, int | float | str)}
    column, family = t.get("column_fpr"), t.get("family_fpr")
    if isinstance(column, int | float) and isinstance(family, int | float):
        correction = t.get("correction") or "holm"
        return f"false-alarm rate {column:.0%} per column, {family:.0%} per window ({correction})"
    rule = _VERDICT_RULES.get(kind or "")
    return rule(t) if rule is not None else None


def _concept_rule(t: dict[str, Any]) -> str | None:
    if "warn_fpr" not in t:
        return None
    drops = ", ".join(
        f"{k.removeprefix('max_drop_')} drop > {v:g}" for k, v in t.items() if k.startswith("max_drop_")
    )
    own = " and the baseline's" if "baseline_rows" in t else ""
    return f"warning at {t['warn_fpr']:.0%} false alarms (window's error{own}); breach: {drops} outside the 95% interval"


def _operational_rule(t: dict[str, Any]) -> str | None:
    limits = [f"{k} {v:g}" for k, v in t.items() if not k.startswith("baseline_")]
    return f"breach past {', '.join(limits)}; warning at 80% of each" if limits else None


def _threshold(text: str, *keys: str) -> Any:
    def rule(t: dict[str, Any]) -> str | None:
        return text.format(**t) if all(isinstance(t.get(k), int | float) for k in keys) else None

    return rule


_VERDICT_RULES: dict[str, Any] = {
    "concept_drift": _concept_rule,
    "model_drift": _operational_rule,
    "quality": _threshold(
        "breach past {missing_share:.0%} missing, {duplicate_share:.0%} duplicates or dataset drift at 1% per window",
        "missing_share",
        "duplicate_share",
    ),
    "robustness": _threshold(
        "breach below worst-case accuracy {min_accuracy:g} at ε {epsilon:g}", "min_accuracy", "epsilon"
    ),
    "consistency": _threshold("breach beyond {tolerance:g} + {rtol:g}·|output|", "tolerance", "rtol"),
    "attribution_drift": _threshold("breach below NDCG@{top_k:g} {ndcg:g}", "ndcg", "top_k"),
}


def _runs_table(monitor: Monitor, finished: list[MonitorRun], mv: ModelVersion) -> list[dict[str, Any]]:
    return [
        {
            "id": r.id,
            "monitor": monitor.name,
            "kind": monitor.kind,
            "model": mv.ref,
            "fpr": false_alarm_rate(r.thresholds, monitor.kind),
            "window_end": r.window_end,
            "status": r.status,
            "summary": (r.details or {}).get("summary") or r.error,
            "metrics": rounded({k: v for k, v in _numeric(r.metrics or {}).items()}),
            "report": bool((r.details or {}).get("report_path") or (r.details or {}).get("report")),
        }
        for r in finished[-20:]
    ]


def run_frame(run: MonitorRun) -> dict[str, Any]:
    """What the run page says above a run's report."""
    details = run.details or {}
    mv = run.model_version or run.monitor.model_version  # a run no version was judged in: the pinned one
    return {
        "id": run.id,
        "model": run.monitor.model.name,
        "version": mv.version if mv is not None else None,
        "ref": mv.ref if mv is not None else run.monitor.model.name,
        "monitor": run.monitor.name,
        "kind": run.monitor.kind,
        "window_start": run.window_start,
        "window_end": run.window_end,
        "status": run.status,
        "summary": details.get("summary") or run.error,
        "fpr": false_alarm_rate(run.thresholds),
        "metrics": {
            k: round_number(v)
            for k, v in (run.metrics or {}).items()
            if isinstance(v, int | float) and not isinstance(v, bool)
        },
        "report": bool(details.get("report_path") or isinstance(details.get("report"), dict)),
    }


def mlflow_link(mlflow_uri: str | None, run_id: str | None) -> str | None:
    """The MLflow UI page of ``run_id`` when the tracking server is reachable over HTTP(S)."""
    if not run_id or not mlflow_uri or not mlflow_uri.startswith(("http://", "https://")):
        return None
    from urllib.parse import quote

    return f"{mlflow_uri.rstrip('/')}/#/runs/{quote(run_id, safe='')}"


def model_page(
    session: Session, mv: ModelVersion, policy: ApprovalPolicy, *, mlflow_uri: str | None = None
) -> dict[str, Any]:
    monitors = monitors_for(session, mv)
    charts: list[dict[str, Any]] = []
    robustness = None
    heatmaps: list[dict[str, Any]] = []
    attribution_heatmaps: list[dict[str, Any]] = []
    runs_table: list[dict[str, Any]] = []
    runs_of = {
        monitor.id: [
            r
            for r in reversed(
                monitoring_service.runs(session, monitor=monitor, limit=200, model_version_id=mv.id)
            )
            if r.status in FINISHED
        ]
        for monitor in monitors
    }
    realized_later = _realized_by_window(monitors, runs_of)
    for monitor in monitors:
        finished = runs_of[monitor.id]
        runs_table += _runs_table(monitor, finished, mv)
        if not finished:
            continue
        if monitor.kind == "robustness":
            robustness = robustness or _robustness(monitor, finished)
            continue
        if monitor.kind in DRIFT_KINDS:
            heatmap = _column_heatmap(monitor, finished)
            if heatmap is not None:
                heatmaps.append(heatmap)
        if monitor.kind == "attribution_drift":
            found = _attribution_heatmap(monitor, finished)
            if found is not None:
                attribution_heatmaps.append(found)
        if monitor.kind == "performance_estimation":
            chart = _estimation_chart(monitor, finished, realized_later)
        else:
            chart = _performance_chart(monitor, finished)
        if chart is None and monitor.kind in DRIFT_KINDS:
            chart = _drift_chart(monitor, finished)
        if chart is not None:
            charts.append(chart)
    # retraining of this version (jobs it asked for) and the job that made it
    jobs = session.scalars(
        select(RetrainJob).where(RetrainJob.model_version_id == mv.id).order_by(RetrainJob.id.desc())
    ).all()
    made_by = [
        j
        for j in session.scalars(
            select(RetrainJob)
            .where(RetrainJob.model_version_id.in_([v.id for v in mv.model.versions]))
            .order_by(RetrainJob.id.desc())
        )
        if (j.result or {}).get("candidate") == mv.ref
    ]
    alerts = session.scalars(
        select(Alert).where(Alert.model_version_id == mv.id).order_by(Alert.id.desc())
    ).all()
    data = mv.to_dict()
    versions = {v.ref: v.id for v in mv.model.versions}
    kept = explanation_service.latest_by_version(session, ids=list(versions.values()))
    relies_on = {ref: [t["feature"] for t in kept[i].top(3)] for ref, i in versions.items() if i in kept}
    retrains = [side_by_side(j, relies_on) for j in [*made_by, *jobs]]
    return {
        "mv": data,
        "explanation": explanation_view(kept.get(mv.id)),
        "attribution_heatmaps": attribution_heatmaps,
        "retrains": [r for r in retrains if r is not None],
        "metrics": rounded(_numeric(mv.metrics or {})),
        "mlflow_link": mlflow_link(mlflow_uri, mv.mlflow_run_id),
        "compliance": compliance_report(session, mv).to_dict(),
        "lineage": model_service.lineage(mv),
        "approval": approval_status(session, mv, policy),
        "monitors": [m.to_dict() for m in monitors],
        "charts": charts,
        "robustness": robustness,
        "heatmaps": heatmaps,
        "runs": sorted(runs_table, key=lambda r: r["window_end"], reverse=True),
        "jobs": [{**j.to_dict(), "gates": _job_gates(j)} for j in [*made_by, *jobs]],
        "alerts": [a.to_dict() for a in alerts],
        "history": [
            {
                "version": t.model_version.ref,
                "name": t.model_version.model.name,
                "number": t.model_version.version,
                "from": t.from_stage,
                "to": t.to_stage,
                "actor": t.actor,
                "reason": t.reason,
                "at": t.at,
            }
            for t in model_service.history(session, name=mv.model.name)
        ],
    }


def digits_for(n: int) -> int:
    """Decimals a proportion measured on ``n`` rows means: its interval is about ``1/sqrt(n)`` wide,
    so 100 rows tell two decimals, 1,000 rows three, never more than four.

    >>> [digits_for(n) for n in (30, 100, 170, 1000, 10**6)]
    [2, 2, 3, 3, 4]
    """
    if n <= 100:
        return 2
    return min(4, 1 + math.ceil(math.log10(n) / 2))


def wilson(successes: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a proportion ``successes / n``.

    >>> [round(v, 3) for v in wilson(95, 100)]
    [0.888, 0.978]
    """
    from statistics import NormalDist

    if n <= 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    p = min(max(successes / n, 0.0), 1.0)
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _rate(value: Any, n: int, confidence: float, places: int) -> str:
    if not isinstance(value, int | float) or not math.isfinite(value) or n <= 0:
        return "-"
    low, high = wilson(round(value * n), n, confidence)
    return f"{value:.{places}f} [{low:.{places}f}, {high:.{places}f}]"


def _difference(m: dict[str, Any], places: int) -> str:
    d, low, high = m.get("difference"), m.get("ci_low"), m.get("ci_high")
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (d, low, high)):
        return "-"
    p = m.get("p_value")
    notes = [str(m["test"])] if m.get("test") else []
    if isinstance(p, int | float) and math.isfinite(p):
        notes.append(f"p={p:.2g}")
    return f"{d:+.{places}f} [{low:+.{places}f}, {high:+.{places}f}]" + (
        f" ({'; '.join(notes)})" if notes else ""
    )


def side_by_side(job: RetrainJob, relies_on: dict[str, list[str]] | None = None) -> dict[str, Any] | None:
    """Champion against challenger for one retrain, from its gates' evidence: each model's metric
    with its interval (Wilson, at the gate's confidence), the paired or independent difference
    with the gate's interval and test, rounded to what the number of rows can tell."""
    result = job.result or {}
    gates = {g.get("name"): g for g in result.get("gates") or [] if isinstance(g, dict)}
    if "champion_challenger" not in gates and "robustness" not in gates:
        return None
    rows = []
    cc = gates.get("champion_challenger")
    if cc is not None:
        m = cc.get("metrics") or {}
        n = int(m.get("rows") or m.get("sample_size") or 0)
        conf = float(m.get("confidence") or 0.95)
        places = digits_for(n)
        base = m.get("baseline") if isinstance(m.get("baseline"), dict) else {}
        rows.append(
            {
                "gate": "champion_challenger",
                "what": f"accuracy on {n} held-out rows",
                "champion": _rate(m.get("champion_accuracy"), n, conf, places),
                "challenger": _rate(m.get("challenger_accuracy"), n, conf, places),
                "difference": _difference(m, places),
                "confidence": f"{conf:.0%}",
                "passed": bool(cc.get("passed")),
            }
        )
        if base:
            rows.append(
                {
                    "gate": "champion_challenger",
                    "what": f"against always predicting {base.get('class')!r}",
                    "champion": "-",
                    "challenger": _rate(base.get("accuracy"), n, conf, places) + " (baseline)",
                    "difference": _difference(base, places),
                    "confidence": f"{conf:.0%}",
                    "passed": bool(m.get("beats_baseline", cc.get("passed"))),
                }
            )
    rb = gates.get("robustness")
    if rb is not None:
        m = rb.get("metrics") or {}
        n = int(m.get("sample_size") or 0)
        conf = float(m.get("confidence") or 0.95)
        places = digits_for(n)
        rows.append(
            {
                "gate": "robustness",
                "what": f"worst-case robust accuracy at ε={m.get('epsilon')} on {n} rows",
                "champion": _rate(m.get("champion_worst_case"), n, conf, places),
                "challenger": _rate(m.get("challenger_worst_case"), n, conf, places),
                "difference": _difference(m, places),
                "confidence": f"{conf:.0%}",
                "passed": bool(rb.get("passed")),
            }
        )
    champion, challenger = result.get("champion"), result.get("candidate")
    return {
        "job": job.id,
        "champion": champion,
        "challenger": challenger,
        "passed": bool(result.get("passed")),
        "stage": result.get("stage"),
        "rows": rows,
        "relies_on": {
            "champion": (relies_on or {}).get(str(champion), []),
            "challenger": (relies_on or {}).get(str(challenger), []),
        },
    }


def _job_gates(job: RetrainJob) -> list[dict[str, Any]]:
    gates = (job.result or {}).get("gates") or []
    return [{**g, "metrics": rounded(g.get("metrics") or {})} for g in gates if isinstance(g, dict)]
