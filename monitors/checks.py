"""The checks the runner can run, one adapter per monitor kind, over :class:`WindowData`.

Each adapter calls a pure check from ``monitors/`` and turns its result into a CheckOutcome
(status, metrics, the thresholds used, one sentence for people, details for the dashboards).
Reference profiles and reports are files under the storage root, written atomically.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from governance.errors import InvalidInput
from governance.monitoring.service import CheckOutcome
from monitors.runner import WindowData, register_check


def _atomic_target(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    os.close(fd)
    return Path(tmp)


def _report_stem(data: WindowData, suffix: str) -> Path:
    stamp = data.window.start.strftime("%Y%m%dT%H%M%S")
    return data.storage_root / "reports" / str(data.monitor["name"]) / f"{stamp}-{suffix}"


# -- data drift ---------------------------------------------------------------------------------
def reference_profile(data: WindowData) -> Any:
    """The reference dataset's drift profile, built once and kept beside the data (keyed by its hash)."""
    from monitors.drift import DatasetProfile, build_profile

    path = data.storage_root / "profiles" / f"{data.reference_sha256}.npz"
    if path.exists():
        key = (str(path), path.stat().st_mtime_ns)
        if key not in _PROFILES:  # kept in memory too: reading the file again costs more than the check
            _PROFILES[key] = DatasetProfile.load(path)
            while len(_PROFILES) > _PROFILES_KEPT:
                _PROFILES.pop(next(iter(_PROFILES)))
        return _PROFILES[key]
    profile = build_profile(data.reference[data.features], sample_size=5000)
    tmp = _atomic_target(path)
    profile.save(tmp)
    os.replace(tmp, path)
    return profile


_PROFILES: dict[tuple[str, int], Any] = {}
_PROFILES_KEPT = 64


@register_check("data_drift")
def data_drift(data: WindowData) -> CheckOutcome:
    from monitors.drift import detect_drift

    share = float(data.thresholds.get("drift_share", 0.5))
    methods = data.params.get("methods")
    column_thresholds = data.params.get("column_thresholds")
    current = data.frame[data.features]
    result = detect_drift(
        reference_profile(data), current, methods=methods, thresholds=column_thresholds, drift_share=share
    )
    summary = result.to_dict()
    tested = len(summary["columns"])
    status = "breach" if result.dataset_drift else ("warning" if result.drifted_count else "ok")
    details: dict[str, Any] = {"columns": summary["columns"]}
    if data.params.get("report", True):  # drawn when someone opens the run (monitors/reports.py)
        from monitors.reports import drift_recipe

        details["report"] = drift_recipe(
            current, methods=methods, thresholds=column_thresholds, drift_share=share
        )
    drifted = [c["column"] for c in summary["columns"] if c["drift_detected"]]
    return CheckOutcome(
        status=status,
        metrics={
            "drift_share": result.drift_share,
            "drifted_columns": result.drifted_count,
            "columns": tested,
        },
        thresholds={"drift_share": share, **({"columns": column_thresholds} if column_thresholds else {})},
        summary=(
            f"data drift on {data.model_ref}: {result.drifted_count} of {tested} columns drifted "
            f"({result.drift_share:.0%}; dataset drift at {share:.0%}) in {data.window.label()}"
            + (f": {', '.join(drifted[:5])}{'…' if len(drifted) > 5 else ''}" if drifted else "")
        ),
        details=details,
        rows=len(current),
    )


# -- model-based checks -----------------------------------------------------------------------------
def _inputs(data: WindowData, model: Any, frame: pd.DataFrame) -> np.ndarray:
    from monitors.modelio import CNNConfig

    x = frame[data.features].to_numpy(np.float32)
    config = model.config
    if isinstance(config, CNNConfig):
        x = x.reshape(-1, config.in_channels, config.height, config.width)
    return x


def _label_indices(model: Any, labels: pd.Series) -> np.ndarray:
    classes = model.metadata.get("classes")
    if classes is None:
        return labels.to_numpy(dtype=np.int64)
    lookup = {str(c): i for i, c in enumerate(classes)}
    return np.asarray([lookup.get(str(v), -1) for v in labels], dtype=np.int64)


@register_check("robustness")
def robustness(data: WindowData) -> CheckOutcome:
    from monitors.robustness import assess_robustness, evaluate_robustness_breach, plot_robustness

    model = data.load_model()
    labelled = data.frame[data.frame["label"].notna()] if "label" in data.frame else data.frame.iloc[0:0]
    if labelled.empty:
        raise InvalidInput(f"robustness needs labelled records and window {data.window.label()} has none")
    epsilon = float(data.thresholds.get("epsilon", 0.1))
    epsilons = sorted({0.0, epsilon, *map(float, data.params.get("epsilons", [0.05, 0.1, 0.2]))})
    result = assess_robustness(
        model.module,
        _inputs(data, model, labelled),
        _label_indices(model, labelled["label"]),
        epsilons=epsilons,
        attacks=data.params.get("attacks", ["fgsm", "pgd"]),
        input_bounds=model.input_bounds,
        reference=data.reference[data.features].to_numpy(np.float32) if model.input_bounds is None else None,
        max_samples=int(data.params.get("max_samples", 200)),
        seed=int(data.params.get("seed", 0)),
    )
    verdict = evaluate_robustness_breach(
        result, epsilon=epsilon, min_accuracy=data.thresholds.get("min_accuracy", 0.5)
    )
    png, svg = plot_robustness(result, _report_stem(data, "robustness"))
    return CheckOutcome(
        status=verdict.status if verdict.status != "ok" or not result.warnings else "warning",
        metrics={"clean_accuracy": result.clean_accuracy, "worst_case_at_epsilon": verdict.value},
        thresholds={"epsilon": epsilon, "min_accuracy": verdict.min_accuracy},
        summary=(
            f"robustness of {data.model_ref}: worst-case robust accuracy {verdict.value:.2f} at ε={epsilon} "
            f"(minimum {verdict.min_accuracy}), clean {result.clean_accuracy:.2f}"
            + (f"; {'; '.join(verdict.reasons)}" if verdict.reasons else "")
        ),
        details={**result.to_dict(), "plots": [str(png), str(svg)]},
        rows=result.n_samples,
    )


@register_check("attribution_drift")
def attribution_drift(data: WindowData) -> CheckOutcome:
    from monitors.insight import NDCG_THRESHOLD, assess_attribution_drift

    model = data.load_model()
    threshold = float(data.thresholds.get("ndcg", NDCG_THRESHOLD))
    drift = assess_attribution_drift(
        model.module,
        _inputs(data, model, data.reference),
        _inputs(data, model, data.frame),
        method=str(data.params.get("method", "ig")),
        feature_names=data.features,
        top_k=int(data.params.get("top_k", 10)),
        threshold=threshold,
        max_rows=int(data.params.get("max_rows", 300)),
        seed=int(data.params.get("seed", 0)),
    )
    return CheckOutcome(
        status=drift.status,
        metrics={
            "ndcg": drift.ndcg,
            "value_change": drift.value_change,
            "relative_change": drift.relative_change,
        },
        thresholds={"ndcg": threshold, "top_k": drift.top_k},
        summary=(
            f"attribution drift on {data.model_ref}: NDCG@{drift.top_k} {drift.ndcg:.3f} (threshold "
            f"{threshold}); top features now {', '.join(drift.current_top[:3])}"
        ),
        details=drift.to_dict(),
        rows=len(data.frame),
    )


@register_check("consistency")
def consistency(data: WindowData) -> CheckOutcome:
    from monitors.consistency import check_consistency

    model = data.load_model()
    tolerance = float(data.thresholds.get("tolerance", 1e-4))
    rtol = float(data.thresholds.get("rtol", 1e-4))
    result = check_consistency(
        model.module,
        _inputs(data, model, data.frame),
        tolerance=tolerance,
        rtol=rtol,
        max_rows=int(data.params.get("max_rows", 512)),
    )
    return CheckOutcome(
        status=result.status,
        metrics=result.metrics,
        thresholds={"tolerance": tolerance, "rtol": rtol},
        summary=f"prediction consistency of {data.model_ref}: {result.summary}",
        details=result.to_dict(),
        rows=result.n_rows,
    )


# -- checks over predictions, labels and requests --------------------------------------------------
def _outcome(result: Any, data: WindowData, rows: int) -> CheckOutcome:
    """A MonitorResult (monitors/result.py) as a CheckOutcome; NaN becomes None through to_dict()."""
    as_dict = result.to_dict()
    return CheckOutcome(
        status=result.status,
        metrics=as_dict["metrics"],
        thresholds=as_dict["thresholds"],
        summary=f"{data.monitor['kind'].replace('_', ' ')} on {data.model_ref}: {result.summary}",
        details=as_dict.get("details") or {},
        rows=rows,
    )


def _aligned(values: pd.Series) -> np.ndarray:
    """Labels and predictions compared as strings unless both are numeric (CSV labels arrive as text)."""
    numeric = pd.to_numeric(values, errors="coerce")
    return numeric.to_numpy() if numeric.notna().all() else values.astype(str).to_numpy()


@register_check("concept_drift")
def concept_drift(data: WindowData) -> CheckOutcome:
    """Window performance against the model's validation baseline, and the detectors' drift points."""
    from monitors.concept_drift import detect_drift_points
    from monitors.performance import Task, assess_performance

    labelled = data.frame[data.frame["label"].notna()] if "label" in data.frame else data.frame.iloc[0:0]
    if labelled.empty:
        raise InvalidInput(f"concept drift needs labelled records and window {data.window.label()} has none")
    baseline = dict(data.params.get("baseline") or {})
    if not baseline:
        for key in ("val_accuracy", "validation_accuracy", "accuracy", "test_accuracy"):
            if key in data.model_metrics:
                baseline = {"accuracy": float(data.model_metrics[key])}
                break
    if not baseline:
        raise InvalidInput(
            f"{data.model_ref} has no validation accuracy to compare with: set --param baseline=..."
        )
    y_true, y_pred = _aligned(labelled["label"]), _aligned(labelled["prediction"])
    task: Task = "regression" if data.params.get("task") == "regression" else "classification"
    result = assess_performance(
        y_true,
        y_pred,
        task=task,
        baseline=baseline,
        max_drop=float(data.thresholds.get("max_drop", 0.05)),
        warn_drop=float(data.thresholds.get("warn_drop", 0.02)),
        seed=int(data.params.get("seed", 0)),
    )
    errors = (y_true.astype(str) != y_pred.astype(str)).astype(float)
    points = detect_drift_points(errors, detector=str(data.params.get("detector", "adwin")))
    outcome = _outcome(result, data, len(labelled))
    return CheckOutcome(
        outcome.status,
        outcome.metrics,
        outcome.thresholds,
        outcome.summary,
        {**outcome.details, "drift_points": points},
        outcome.rows,
    )


@register_check("model_drift")
def model_drift(data: WindowData) -> CheckOutcome:
    """Latency percentiles, throughput and error rate against the baseline window."""
    from monitors.operational import assess_operational

    baseline: Any = data.extras.get("baseline_frame")
    if data.params.get("baseline"):
        baseline = dict(data.params["baseline"])
    if baseline is None or (isinstance(baseline, pd.DataFrame) and baseline.empty):
        raise InvalidInput(f"model drift on {data.model_ref} has no baseline window with requests")
    thresholds = {k: float(v) for k, v in data.thresholds.items()} or {
        "p95_relative": 1.5,
        "error_rate": 0.05,
    }
    window_seconds = (data.window.end - data.window.start).total_seconds()
    result = assess_operational(data.frame, baseline, window_seconds=window_seconds, thresholds=thresholds)
    return _outcome(result, data, len(data.frame))


@register_check("quality")
def quality(data: WindowData) -> CheckOutcome:
    """The six data-quality dimensions over the window, representativeness against the reference."""
    from monitors.quality import assess_quality

    columns = [*data.features, *(c for c in ("label", "prediction") if c in data.frame)]
    frame = data.frame[columns]
    has_labels = "label" in frame and frame["label"].notna().any()
    result = assess_quality(
        frame,
        label="label" if has_labels else None,
        prediction="prediction" if "prediction" in frame else None,
        protected=tuple(data.params.get("protected", ())),
        min_examples=int(data.params.get("min_examples", 100)),
        reference=data.reference[data.features] if data.reference_path is not None else None,
        thresholds={k: float(v) for k, v in data.thresholds.items()} or None,
    )
    return _outcome(result, data, len(frame))
