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


def _drift_options(data: WindowData) -> dict[str, Any]:
    """The data-drift monitor's verdict settings: params, or thresholds of the same name."""

    def pick(key: str, default: Any) -> Any:
        return data.params.get(key, data.thresholds.get(key, default))

    return {
        "preset": str(pick("preset", "calibrated")),
        "column_fpr": float(pick("column_fpr", 0.05)),
        "family_fpr": float(pick("family_fpr", 0.01)),
        "correction": str(pick("correction", "holm")),
    }


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")


_PROFILES: dict[tuple[str, int], Any] = {}
_PROFILES_KEPT = 64


@register_check("data_drift")
def data_drift(data: WindowData) -> CheckOutcome:
    """Calibrated verdicts by default: ``ok`` when no column is significant after correction,
    ``warning`` when some are at the column false-positive rate, ``breach`` on dataset drift (or a
    multivariate test's drift with ``multivariate=true``)."""
    from monitors.drift import detect_drift

    share = float(data.thresholds.get("drift_share", 0.5))
    methods = data.params.get("methods")
    column_thresholds = data.params.get("column_thresholds")
    options = _drift_options(data)
    current = data.frame[data.features]
    result = detect_drift(
        reference_profile(data),
        current,
        methods=methods,
        thresholds=column_thresholds,
        drift_share=share,
        **options,
    )
    summary = result.to_dict()
    tested = len(summary["columns"])
    status = result.status
    details: dict[str, Any] = {"columns": summary["columns"], "preset": options["preset"]}
    metrics: dict[str, Any] = {
        "drift_share": result.drift_share,
        "drifted_columns": result.drifted_count,
        "columns": tested,
    }
    calibrated = options["preset"] == "calibrated"
    if calibrated:
        metrics["significant_columns"] = result.significant_count
        metrics["min_p_adjusted"] = min((c.p_adjusted or 1.0 for c in result.columns), default=1.0)
    joint_text = ""
    if _flag(data.params.get("multivariate", False)):
        from monitors.drift.multivariate import multivariate_drift

        joint = multivariate_drift(
            data.reference[data.features],
            current,
            alpha=options["family_fpr"],
            seed=int(data.params.get("seed", 0)),
        )
        details["multivariate"] = [t.to_dict() for t in joint]
        for t in joint:
            metrics[f"{t.name}_statistic"] = t.statistic
            metrics[f"{t.name}_p_value"] = t.p_value
        flagged = [t for t in joint if t.drift_detected]
        if flagged:
            status = "breach"
            joint_text = "; multivariate drift: " + ", ".join(
                f"{t.name} (look at {', '.join(t.top_features[:3])})" for t in flagged
            )
    if data.params.get("report", True):  # drawn when someone opens the run (monitors/reports.py)
        from monitors.reports import drift_recipe

        details["report"] = drift_recipe(
            current, methods=methods, thresholds=column_thresholds, drift_share=share
        )
    drifted = [c["column"] for c in summary["columns"] if c["drift_detected"]]
    if calibrated:
        verdict = (
            f"{result.drifted_count} of {tested} columns drifted at p ≤ {options['column_fpr']:g}, "
            f"{result.significant_count} after {options['correction']} correction; "
            f"{'dataset drift' if result.dataset_drift else 'no dataset drift'} at the "
            f"family-wise false-alarm rate {options['family_fpr']:g}"
        )
        thresholds: dict[str, Any] = {
            "column_fpr": options["column_fpr"],
            "family_fpr": options["family_fpr"],
            "correction": options["correction"],
        }
    else:
        verdict = (
            f"{result.drifted_count} of {tested} columns drifted "
            f"({result.drift_share:.0%}; dataset drift at {share:.0%})"
        )
        thresholds = {"drift_share": share}
    if column_thresholds:
        thresholds["columns"] = column_thresholds
    return CheckOutcome(
        status=status,
        metrics=metrics,
        thresholds=thresholds,
        summary=(
            f"data drift on {data.model_ref}: {verdict} in {data.window.label()}"
            + (f": {', '.join(drifted[:5])}{'…' if len(drifted) > 5 else ''}" if drifted else "")
            + joint_text
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
    # The validation set's size, when known, puts the baseline's own error into the test.
    baseline_rows = data.params.get("baseline_rows") or data.model_metrics.get("val_rows")
    result = assess_performance(
        y_true,
        y_pred,
        task=task,
        baseline=baseline,
        max_drop=float(data.thresholds.get("max_drop", 0.05)),
        warn_drop=float(data.thresholds.get("warn_drop", 0.02)),
        warn_fpr=float(data.thresholds.get("warn_fpr", 0.05)),
        baseline_rows=int(baseline_rows) if baseline_rows else None,
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


# -- performance estimated before labels arrive ------------------------------------------------------
def _probabilities(model: Any, x: np.ndarray) -> np.ndarray:
    import torch

    with torch.no_grad():
        logits = model.module(torch.from_numpy(x))
    if logits.shape[1] == 1:  # a single logit: class 1 when positive
        p1 = torch.sigmoid(logits)[:, 0].numpy().astype(np.float64)
        return np.column_stack([1.0 - p1, p1])
    return torch.softmax(logits, 1).numpy().astype(np.float64)


def _scored(classes: list[str], proba: np.ndarray, predicted: Any, labels: Any = None) -> pd.DataFrame:
    frame = pd.DataFrame({f"proba_{c}": proba[:, i] for i, c in enumerate(classes)})
    frame["prediction"] = list(predicted)
    if labels is not None:
        frame["label"] = list(labels)
    return frame


@register_check("performance_estimation")
def performance_estimation(data: WindowData) -> CheckOutcome:
    """The window's metrics estimated from the model's probabilities (CBPE), before labels exist.

    The reference's probabilities come from the model itself on the reference rows (labels known);
    the window's from its recorded ``proba_<i>`` columns, else from the model. Thresholds are
    minimum values per metric (default: the reference's realized accuracy less 0.05): ``breach``
    when an estimate is below its minimum, ``warning`` when only the band's lower end is. When the
    window's labels have arrived, the realized metrics are stored beside the estimates.
    """
    from monitors.estimation import CBPE, METRICS

    model = data.load_model()
    metrics = tuple(data.params.get("metrics") or ("roc_auc", "accuracy", "f1"))
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise InvalidInput(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)}")
    label = data.reference_label or "label"
    reference = data.reference
    if label not in reference:
        raise InvalidInput(f"the reference of {data.model_ref} has no label column {label!r}")
    reference = reference.iloc[: int(data.params.get("max_rows", 5000))]
    ref_proba = _probabilities(model, _inputs(data, model, reference))
    classes = [str(c) for c in (model.metadata.get("classes") or range(ref_proba.shape[1]))]
    ref_frame = _scored(classes, ref_proba, np.asarray(classes)[ref_proba.argmax(1)], reference[label])
    recorded = [f"proba_{i}" for i in range(len(classes))]
    window = data.frame
    if all(c in window for c in recorded):
        proba = window[recorded].to_numpy(np.float64)
    else:
        proba = _probabilities(model, _inputs(data, model, window))
    predicted = window["prediction"] if "prediction" in window else np.asarray(classes)[proba.argmax(1)]
    labels = window["label"] if "label" in window and window["label"].notna().all() else None
    cur_frame = _scored(classes, proba, predicted, labels)
    estimator = CBPE(
        label="label", prediction="prediction", metrics=metrics, seed=int(data.params.get("seed", 0))
    )
    chunk = estimator.fit(ref_frame).estimate(cur_frame, chunk_size=len(cur_frame)).chunks[0]
    thresholds = {k: float(v) for k, v in data.thresholds.items() if k in metrics}
    if not thresholds:
        reference_accuracy = float((ref_frame["prediction"] == ref_frame["label"]).mean())
        thresholds = {"accuracy": reference_accuracy - 0.05} if "accuracy" in metrics else {}
    below = [m for m, t in thresholds.items() if chunk.estimated[m] < t]
    uncertain = [m for m, t in thresholds.items() if chunk.lower[m] < t <= chunk.estimated[m]]
    status = "breach" if below else ("warning" if uncertain else "ok")
    finite = chunk.to_dict()
    out_metrics: dict[str, Any] = {}
    for part in ("estimated", "lower", "upper", "realized"):
        out_metrics.update({f"{part}_{m}": v for m, v in (finite[part] or {}).items()})
    text = ", ".join(
        f"{m} {chunk.estimated[m]:.3f} [{chunk.lower[m]:.3f}, {chunk.upper[m]:.3f}]"
        + (f" (minimum {thresholds[m]:.3f})" if m in thresholds else "")
        + (f", realized {chunk.realized[m]:.3f}" if chunk.realized is not None else "")
        for m in metrics
    )
    return CheckOutcome(
        status=status,
        metrics=out_metrics,
        thresholds=thresholds,
        summary=f"estimated performance of {data.model_ref} in {data.window.label()}: {text}",
        details={"chunk": finite, "classes": classes, "below": below, "uncertain": uncertain},
        rows=chunk.rows,
    )
