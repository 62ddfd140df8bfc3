"""The checks the runner can run, one per monitor kind, over :class:`WindowData`.

:data:`CHECKS` is the table, written out: one entry per kind of
:data:`~governance.monitoring.terms.MONITOR_KINDS` (a test holds the two equal). Each check is a
:class:`Check`: the base does the shared work (the labelled rows a check needs, the summary's
opening that names the model, the kind, the row count, JSON-ready numbers); each check implements
only :meth:`Check.evaluate`, which calls a pure check from ``monitors/`` and returns its
:class:`~monitors.result.MonitorResult`. Reference profiles and reports are files under the
storage root, written atomically.
"""

from __future__ import annotations

import math
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pandas as pd

from governance.errors import InvalidInput
from governance.monitoring.terms import MonitorKind, Status
from governance.storage import Storage
from monitors.result import MonitorResult, to_jsonable

if TYPE_CHECKING:
    from monitors.runner import WindowData

CheckFn = Callable[["WindowData"], MonitorResult]


class Check(ABC):
    """A monitor kind's check over one window.

    Subclasses set :attr:`kind` (and :attr:`opening`, :attr:`needs_labels` where they differ) and
    implement :meth:`evaluate`; calling the check gives the stored result: ``monitor`` is the
    kind, the summary starts with :attr:`opening` (``{kind}``, ``{model}``, ``{window}`` filled
    in), ``rows`` defaults to the window's records, numbers are made JSON-ready.
    """

    kind: ClassVar[MonitorKind]
    opening: ClassVar[str] = "{kind} on {model}"
    needs_labels: ClassVar[bool] = False

    def __call__(self, data: WindowData) -> MonitorResult:
        result = self.evaluate(data)
        opening = self.opening.format(
            kind=self.kind.replace("_", " "), model=data.model_ref, window=data.window.label()
        )
        return result.restated(
            monitor=self.kind,
            metrics=to_jsonable(result.metrics),
            thresholds=to_jsonable(result.thresholds),
            summary=f"{opening}: {result.summary}",
            details=to_jsonable(result.details),
            rows=len(data.frame) if result.rows is None else result.rows,
        )

    @abstractmethod
    def evaluate(self, data: WindowData) -> MonitorResult:
        """The pure check's result over ``data``; its summary is the sentence after the opening."""

    def labelled(self, data: WindowData) -> pd.DataFrame:
        """The window's records with a label; InvalidInput when there are none."""
        frame = data.frame
        labelled = frame[frame["label"].notna()] if "label" in frame else frame.iloc[0:0]
        if labelled.empty:
            raise InvalidInput(
                f"{self.kind.replace('_', ' ')} needs labelled records and window "
                f"{data.window.label()} has none"
            )
        return labelled


def _number(value: Any, name: str, kind: type[int] | type[float] = float) -> Any:
    """``value`` (a monitor's param or threshold ``name``) as a finite number of ``kind``;
    InvalidInput in one sentence otherwise (a param may arrive as any JSON value or text)."""
    whole = kind is int
    try:
        if isinstance(value, bool) or not isinstance(value, (int, float, str, np.number)):
            raise ValueError
        if whole and isinstance(value, (int, np.integer)):
            return int(value)
        number = float(value)
        if not math.isfinite(number) or (whole and not number.is_integer()):
            raise ValueError
    except (TypeError, ValueError):
        raise InvalidInput(
            f"{name} {value!r} is not {'a whole number' if whole else 'a finite number'}"
        ) from None
    return int(number) if whole else number


def _store_plots(data: WindowData, suffix: str, draw: Callable[[Path], tuple[Path, ...]]) -> list[str]:
    """Files ``draw`` writes beside a local stem, stored (atomically) under the storage root's reports."""
    storage = Storage(data.storage_root)
    stamp = data.window.start.strftime("%Y%m%dT%H%M%S")
    with tempfile.TemporaryDirectory(prefix="govern-plots-") as tmp:
        drawn = draw(Path(tmp) / f"{stamp}-{suffix}")
        return [
            storage.write_bytes(
                storage.location("reports", str(data.monitor["name"]), p.name), p.read_bytes()
            )
            for p in drawn
        ]


# -- data drift ---------------------------------------------------------------------------------
def reference_profile(data: WindowData) -> Any:
    """The reference dataset's drift profile, built once and kept beside the data (keyed by its hash)."""
    from monitors.drift import DatasetProfile, build_profile

    storage = Storage(data.storage_root)
    location = storage.location("profiles", f"{data.reference_sha256}.npz")
    modified = storage.modified(location)
    if modified is not None:
        key = (location, modified)
        if key not in _PROFILES:  # kept in memory too: reading the file again costs more than the check
            with tempfile.TemporaryDirectory(prefix="govern-profile-") as tmp:
                local = Path(tmp) / "profile.npz"
                local.write_bytes(storage.read_bytes(location))
                _PROFILES[key] = DatasetProfile.load(local)
            while len(_PROFILES) > _PROFILES_KEPT:
                _PROFILES.pop(next(iter(_PROFILES)))
        return _PROFILES[key]
    profile = build_profile(data.reference[data.features], sample_size=5000)
    with tempfile.TemporaryDirectory(prefix="govern-profile-") as tmp:
        profile.save(Path(tmp) / "profile.npz")
        storage.write_bytes(location, (Path(tmp) / "profile.npz").read_bytes())
    return profile


def _drift_options(data: WindowData) -> dict[str, Any]:
    """The data-drift monitor's verdict settings: params, or thresholds of the same name."""

    def pick(key: str, default: Any) -> Any:
        return data.params.get(key, data.thresholds.get(key, default))

    return {
        "preset": str(pick("preset", "calibrated")),
        "column_fpr": _number(pick("column_fpr", 0.05), "column_fpr"),
        "family_fpr": _number(pick("family_fpr", 0.01), "family_fpr"),
        "correction": str(pick("correction", "holm")),
    }


def _flag(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")


_PROFILES: dict[tuple[str, float], Any] = {}
_PROFILES_KEPT = 64


class DataDriftCheck(Check):
    """Calibrated verdicts by default: ``ok`` when no column is significant after correction,
    ``warning`` when some are at the column false-positive rate, ``breach`` on dataset drift (or a
    multivariate test's drift with ``multivariate=true``)."""

    kind = "data_drift"
    opening = "data drift on {model}"

    def evaluate(self, data: WindowData) -> MonitorResult:
        from monitors.drift import detect_drift

        share = _number(data.thresholds.get("drift_share", 0.5), "drift_share")
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
        status, metrics, details = result.status, dict(result.metrics), dict(result.details)
        joint_text = ""
        if _flag(data.params.get("multivariate", False)):
            from monitors.drift.multivariate import multivariate_drift

            joint = multivariate_drift(
                data.reference[data.features],
                current,
                alpha=options["family_fpr"],
                seed=_number(data.params.get("seed", 0), "seed", int),
            )
            details["multivariate"] = [t.to_dict() for t in joint]
            for t in joint:
                metrics[f"{t.name}_statistic"] = t.statistic
                metrics[f"{t.name}_p_value"] = t.p_value
            flagged = [t for t in joint if t.drift_detected]
            if flagged:
                status = Status.BREACH
                joint_text = "; multivariate drift: " + ", ".join(
                    f"{t.name} (look at {', '.join(t.top_features[:3])})" for t in flagged
                )
        if data.params.get("report", True):  # drawn when someone opens the run (monitors/reports.py)
            from monitors.reports import drift_recipe

            details["report"] = drift_recipe(
                current, methods=methods, thresholds=column_thresholds, drift_share=share
            )
        thresholds = dict(result.thresholds)
        if column_thresholds:
            thresholds["columns"] = column_thresholds
        drifted = [c.column for c in result.columns if c.drift_detected]
        named = f": {', '.join(drifted[:5])}{'…' if len(drifted) > 5 else ''}" if drifted else ""
        return result.restated(
            status=status,
            metrics=metrics,
            thresholds=thresholds,
            summary=f"{result.summary} in {data.window.label()}{named}{joint_text}",
            details=details,
        )


# -- model-based checks -----------------------------------------------------------------------------
def _inputs(data: WindowData, model: Any, frame: pd.DataFrame) -> np.ndarray:
    from trainer.architectures import CNNConfig

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


class RobustnessCheck(Check):
    """Worst-case robust accuracy at ε against a minimum; a pass with attack warnings is a warning."""

    kind = "robustness"
    opening = "robustness of {model}"
    needs_labels = True

    def evaluate(self, data: WindowData) -> MonitorResult:
        from monitors.robustness import assess_robustness, evaluate_robustness_breach, plot_robustness

        model = data.load_model()
        labelled = self.labelled(data)
        epsilon = _number(data.thresholds.get("epsilon", 0.1), "epsilon")
        epsilons = sorted(
            {0.0, epsilon, *(_number(e, "epsilons") for e in data.params.get("epsilons", [0.05, 0.1, 0.2]))}
        )
        result = assess_robustness(
            model.module,
            _inputs(data, model, labelled),
            _label_indices(model, labelled["label"]),
            epsilons=epsilons,
            attacks=data.params.get("attacks", ["fgsm", "pgd"]),
            input_bounds=model.input_bounds,
            reference=data.reference[data.features].to_numpy(np.float32)
            if model.input_bounds is None
            else None,
            max_samples=_number(data.params.get("max_samples", 200), "max_samples", int),
            seed=_number(data.params.get("seed", 0), "seed", int),
        )
        verdict = evaluate_robustness_breach(
            result, epsilon=epsilon, min_accuracy=data.thresholds.get("min_accuracy", 0.5)
        )
        plots = _store_plots(data, "robustness", partial(plot_robustness, result))
        return verdict.restated(
            status=Status.WARNING if verdict.status is Status.OK and result.warnings else verdict.status,
            metrics={"clean_accuracy": result.clean_accuracy, "worst_case_at_epsilon": verdict.value},
            thresholds={"epsilon": epsilon, "min_accuracy": verdict.min_accuracy},
            summary=(
                f"worst-case robust accuracy {verdict.value:.2f} at ε={epsilon} "
                f"(minimum {verdict.min_accuracy}), clean {result.clean_accuracy:.2f}"
                + (f"; {'; '.join(verdict.reasons)}" if verdict.reasons else "")
            ),
            details={**result.to_dict(), "plots": plots},
            rows=result.n_samples,
        )


class AttributionDriftCheck(Check):
    """NDCG of the window's top attributed features against the reference's."""

    kind = "attribution_drift"

    def evaluate(self, data: WindowData) -> MonitorResult:
        from monitors.insight import NDCG_THRESHOLD, assess_attribution_drift

        model = data.load_model()
        drift = assess_attribution_drift(
            model.module,
            _inputs(data, model, data.reference),
            _inputs(data, model, data.frame),
            method=str(data.params.get("method", "ig")),
            feature_names=data.features,
            top_k=_number(data.params.get("top_k", 10), "top_k", int),
            threshold=_number(data.thresholds.get("ndcg", NDCG_THRESHOLD), "ndcg"),
            max_rows=_number(data.params.get("max_rows", 300), "max_rows", int),
            seed=_number(data.params.get("seed", 0), "seed", int),
        )
        return drift.restated(details=drift.to_dict())


class ConsistencyCheck(Check):
    """The same inputs give the same outputs, call after call, batch size after batch size."""

    kind = "consistency"
    opening = "prediction consistency of {model}"

    def evaluate(self, data: WindowData) -> MonitorResult:
        from monitors.consistency import check_consistency

        model = data.load_model()
        result = check_consistency(
            model.module,
            _inputs(data, model, data.frame),
            tolerance=_number(data.thresholds.get("tolerance", 1e-4), "tolerance"),
            rtol=_number(data.thresholds.get("rtol", 1e-4), "rtol"),
            max_rows=_number(data.params.get("max_rows", 512), "max_rows", int),
        )
        return result.restated(details=result.to_dict(), rows=result.n_rows)


# -- checks over predictions, labels and requests --------------------------------------------------
def _aligned(values: pd.Series) -> np.ndarray:
    """Labels and predictions compared as strings unless both are numeric (CSV labels arrive as text)."""
    numeric = pd.to_numeric(values, errors="coerce")
    return numeric.to_numpy() if numeric.notna().all() else values.astype(str).to_numpy()


class ConceptDriftCheck(Check):
    """Window performance against the model's validation baseline, and the detectors' drift points."""

    kind = "concept_drift"
    needs_labels = True

    def evaluate(self, data: WindowData) -> MonitorResult:
        from monitors.concept_drift import detect_drift_points
        from monitors.performance import Task, assess_performance

        labelled = self.labelled(data)
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
            max_drop=_number(data.thresholds.get("max_drop", 0.05), "max_drop"),
            warn_drop=_number(data.thresholds.get("warn_drop", 0.02), "warn_drop"),
            warn_fpr=_number(data.thresholds.get("warn_fpr", 0.05), "warn_fpr"),
            baseline_rows=_number(baseline_rows, "baseline_rows", int) if baseline_rows else None,
            seed=_number(data.params.get("seed", 0), "seed", int),
        )
        errors = (y_true.astype(str) != y_pred.astype(str)).astype(float)
        points = detect_drift_points(errors, detector=str(data.params.get("detector", "adwin")))
        return result.restated(details={**result.details, "drift_points": points}, rows=len(labelled))


class ModelDriftCheck(Check):
    """Latency percentiles, throughput and error rate against the baseline window."""

    kind = "model_drift"

    def evaluate(self, data: WindowData) -> MonitorResult:
        from monitors.operational import assess_operational

        baseline: Any = data.extras.get("baseline_frame")
        if data.params.get("baseline"):
            baseline = dict(data.params["baseline"])
        if baseline is None or (isinstance(baseline, pd.DataFrame) and baseline.empty):
            raise InvalidInput(f"model drift on {data.model_ref} has no baseline window with requests")
        thresholds = {k: _number(v, k) for k, v in data.thresholds.items()} or {
            "p95_relative": 1.5,
            "error_rate": 0.05,
        }
        window_seconds = (data.window.end - data.window.start).total_seconds()
        return assess_operational(data.frame, baseline, window_seconds=window_seconds, thresholds=thresholds)


class QualityCheck(Check):
    """The six data-quality dimensions over the window, representativeness against the reference."""

    kind = "quality"

    def evaluate(self, data: WindowData) -> MonitorResult:
        from monitors.quality import assess_quality

        columns = [*data.features, *(c for c in ("label", "prediction") if c in data.frame)]
        frame = data.frame[columns]
        has_labels = "label" in frame and frame["label"].notna().any()
        return assess_quality(
            frame,
            label="label" if has_labels else None,
            prediction="prediction" if "prediction" in frame else None,
            protected=tuple(data.params.get("protected", ())),
            min_examples=_number(data.params.get("min_examples", 100), "min_examples", int),
            reference=data.reference[data.features] if data.reference_path is not None else None,
            thresholds={k: _number(v, k) for k, v in data.thresholds.items()} or None,
        )


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


class PerformanceEstimationCheck(Check):
    """The window's metrics estimated from the model's probabilities (CBPE), before labels exist.

    The reference's probabilities come from the model itself on the reference rows (labels known);
    the window's from its recorded ``proba_<i>`` columns, else from the model. Thresholds are
    minimum values per metric (default: the reference's realized accuracy less 0.05): ``breach``
    when an estimate is below its minimum, ``warning`` when only the band's lower end is. When the
    window's labels have arrived, the realized metrics are stored beside the estimates.
    """

    kind = "performance_estimation"
    opening = "estimated performance of {model} in {window}"

    def evaluate(self, data: WindowData) -> MonitorResult:
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
        reference = reference.iloc[: _number(data.params.get("max_rows", 5000), "max_rows", int)]
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
            label="label",
            prediction="prediction",
            metrics=metrics,
            seed=_number(data.params.get("seed", 0), "seed", int),
        )
        chunk = estimator.fit(ref_frame).estimate(cur_frame, chunk_size=len(cur_frame)).chunks[0]
        thresholds = {k: _number(v, k) for k, v in data.thresholds.items() if k in metrics}
        if not thresholds:
            reference_accuracy = float((ref_frame["prediction"] == ref_frame["label"]).mean())
            thresholds = {"accuracy": reference_accuracy - 0.05} if "accuracy" in metrics else {}
        below = [m for m, t in thresholds.items() if chunk.estimated[m] < t]
        uncertain = [m for m, t in thresholds.items() if chunk.lower[m] < t <= chunk.estimated[m]]
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
        return MonitorResult(
            monitor=self.kind,
            status=Status.BREACH if below else Status.WARNING if uncertain else Status.OK,
            metrics=out_metrics,
            thresholds=thresholds,
            summary=text,
            details={"chunk": finite, "classes": classes, "below": below, "uncertain": uncertain},
            rows=chunk.rows,
        )


CHECKS: dict[str, CheckFn] = {
    "data_drift": DataDriftCheck(),
    "concept_drift": ConceptDriftCheck(),
    "model_drift": ModelDriftCheck(),
    "quality": QualityCheck(),
    "robustness": RobustnessCheck(),
    "consistency": ConsistencyCheck(),
    "attribution_drift": AttributionDriftCheck(),
    "performance_estimation": PerformanceEstimationCheck(),
}
"""The check of each monitor kind (its keys are :data:`~governance.monitoring.terms.MONITOR_KINDS`)."""
