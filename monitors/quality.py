"""Data quality: the six dimensions that decide whether data can be trusted.

=================  ==============================  ==========================================
dimension          check                           severity
=================  ==============================  ==========================================
validity           missing_values                  warning; breach past ``missing_share``
validity           missing_column                  breach (a schema column is absent)
validity           out_of_bounds                   breach (outside the schema's min/max/values)
validity           wrong_type                      breach (not of the schema's type, or text
                                                   in a column that is otherwise numbers)
validity           non_finite                      warning (inf in a numeric column)
uniqueness         duplicate_rows                  warning; breach past ``duplicate_share``
uniqueness         cross_split_duplicates          breach (the same row in two splits: leakage)
consistency        case_or_spacing_variants        warning (``Normal`` and ``normal ``)
consistency        conflicting_labels              warning (identical inputs, different labels)
comprehensiveness  rare_label                      warning (fewer than ``min_examples``); info
                                                   in a window judged against a reference
fairness           under_represented_group         warning (share below ``min_group_share``)
fairness           demographic_parity_difference   warning past ``parity_warning``, breach past
fairness           equal_opportunity_difference    ``parity_breach``
representativeness distribution_shift              warning per column significant after the
                                                   drift engine's correction; breach when it
                                                   calls dataset drift
representativeness drift_engine_unavailable        info
=================  ==============================  ==========================================

The report's status is the worst severity ("info" counts as ok).

>>> import pandas as pd
>>> frame = pd.DataFrame({"x": [1, 2, 2], "y": ["a", "b", "b"]})
>>> [f.check for f in assess_quality(frame, label="y", min_examples=1).findings]
['duplicate_rows']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from governance.errors import InvalidInput
from monitors.result import MonitorResult, Status, worst_status

logger = logging.getLogger(__name__)

Severity = Literal["info", "warning", "breach"]
DIMENSIONS = (
    "validity",
    "uniqueness",
    "consistency",
    "comprehensiveness",
    "fairness",
    "representativeness",
)
DEFAULT_QUALITY_THRESHOLDS: dict[str, float] = {
    "missing_share": 0.2,
    "duplicate_share": 0.05,
    "min_group_share": 0.05,
    "parity_warning": 0.1,
    "parity_breach": 0.2,
    "min_group_rows": 20,
}
SCHEMA_TYPES = ("int", "integer", "float", "number", "str", "string", "category", "bool", "datetime")


@dataclass(frozen=True)
class Finding:
    """One data quality problem."""

    dimension: str
    check: str
    column: str | None
    count: int
    severity: Severity
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension,
            "check": self.check,
            "column": self.column,
            "count": int(self.count),
            "severity": self.severity,
            "message": self.message,
        }


@dataclass(frozen=True)
class QualityReport(MonitorResult):
    """A :class:`MonitorResult` with the findings behind it."""

    findings: tuple[Finding, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["findings"] = [f.to_dict() for f in self.findings]
        return data


def _status(severity: Severity) -> Status:
    return Status.OK if severity == "info" else Status(severity)


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


# -- validity --------------------------------------------------------------------------------------


def _validity(
    frame: pd.DataFrame, schema: Mapping[str, Mapping[str, Any]] | None, limits: dict[str, float]
) -> list[Finding]:
    found: list[Finding] = []
    n = len(frame)
    for key in frame.columns:
        column = str(key)
        missing = int(frame[key].isna().sum())
        if missing:
            share = missing / n
            severity: Severity = "breach" if share > limits["missing_share"] else "warning"
            found.append(
                Finding(
                    "validity",
                    "missing_values",
                    str(column),
                    missing,
                    severity,
                    f"column {column!r} has {missing} missing values ({share:.1%} of rows).",
                )
            )
        series = frame[key]
        if pd.api.types.is_float_dtype(series):
            infinite = int(np.isinf(series.to_numpy(dtype=np.float64)).sum())
            if infinite:
                found.append(
                    Finding(
                        "validity",
                        "non_finite",
                        str(column),
                        infinite,
                        "warning",
                        f"column {column!r} has {infinite} infinite values.",
                    )
                )
        elif (schema is None or column not in schema) and series.dtype == object:
            found.extend(_mostly_numbers(series, column))
    for column, spec in (schema or {}).items():
        if column not in frame.columns:
            found.append(
                Finding(
                    "validity",
                    "missing_column",
                    column,
                    n,
                    "breach",
                    f"schema column {column!r} is not in the data.",
                )
            )
            continue
        found.extend(_against_schema(frame[column], column, spec))
    return found


def _mostly_numbers(series: pd.Series, column: str) -> list[Finding]:
    present = series.dropna()
    if present.empty:
        return []
    numbers = pd.to_numeric(present, errors="coerce")
    failed = int(numbers.isna().sum())
    if failed > 0 and failed < 0.5 * len(present):
        examples = ", ".join(_show(v) for v in present[numbers.isna()].unique()[:3])
        return [
            Finding(
                "validity",
                "wrong_type",
                column,
                failed,
                "breach",
                f"column {column!r} holds numbers but {failed} values are not numbers (e.g. {examples}).",
            )
        ]
    return []


def _against_schema(series: pd.Series, column: str, spec: Mapping[str, Any]) -> list[Finding]:
    unknown = set(spec) - {"type", "min", "max", "values"}
    if unknown:
        raise InvalidInput(f"schema entry for {column!r} has unknown key {sorted(unknown)[0]!r}.")
    kind = str(spec.get("type", "")).lower() or None
    if kind is not None and kind not in SCHEMA_TYPES:
        raise InvalidInput(
            f"schema type {kind!r} of column {column!r} is not one of {', '.join(SCHEMA_TYPES)}."
        )
    present = series.dropna()
    found: list[Finding] = []
    wrong = pd.Series(False, index=present.index)
    if kind in ("int", "integer", "float", "number") or (kind is None and ("min" in spec or "max" in spec)):
        numbers = pd.to_numeric(present, errors="coerce")
        wrong = numbers.isna()
        if kind in ("int", "integer"):
            wrong |= numbers.notna() & (numbers % 1 != 0)
    elif kind == "bool":
        allowed = {True, False, "true", "false", "True", "False"}
        wrong = ~present.map(lambda v: v in allowed).astype(bool)
    elif kind == "datetime":
        wrong = pd.to_datetime(present, errors="coerce", format="mixed").isna()
    elif kind in ("str", "string", "category") and present.dtype == object:
        wrong = ~present.map(lambda v: isinstance(v, str)).astype(bool)
    if wrong.any():
        examples = ", ".join(_show(v) for v in present[wrong].unique()[:3])
        found.append(
            Finding(
                "validity",
                "wrong_type",
                column,
                int(wrong.sum()),
                "breach",
                f"column {column!r} has {int(wrong.sum())} values that are not {kind or 'numbers'} (e.g. {examples}).",
            )
        )
    if "min" in spec or "max" in spec:
        numbers = pd.to_numeric(present[~wrong], errors="coerce")
        low, high = spec.get("min", -np.inf), spec.get("max", np.inf)
        outside = int(((numbers < low) | (numbers > high)).sum())
        if outside:
            found.append(
                Finding(
                    "validity",
                    "out_of_bounds",
                    column,
                    outside,
                    "breach",
                    f"column {column!r} has {outside} values outside [{low}, {high}].",
                )
            )
    if "values" in spec:
        allowed_values = set(spec["values"])
        outside = int((~present.isin(allowed_values)).sum())
        if outside:
            found.append(
                Finding(
                    "validity",
                    "out_of_bounds",
                    column,
                    outside,
                    "breach",
                    f"column {column!r} has {outside} values outside its allowed set.",
                )
            )
    return found


# -- uniqueness ------------------------------------------------------------------------------------


def _uniqueness(
    frame: pd.DataFrame, data_columns: list[str], split_column: str | None, limits: dict[str, float]
) -> list[Finding]:
    found: list[Finding] = []
    within = data_columns + ([split_column] if split_column else [])
    duplicates = int(frame.duplicated(subset=within).sum())
    if duplicates:
        share = duplicates / len(frame)
        severity: Severity = "breach" if share > limits["duplicate_share"] else "warning"
        where = " within a split" if split_column else ""
        found.append(
            Finding(
                "uniqueness",
                "duplicate_rows",
                None,
                duplicates,
                severity,
                f"{duplicates} rows repeat an earlier row{where} ({share:.1%} of rows).",
            )
        )
    if split_column:
        keys = pd.util.hash_pandas_object(frame[data_columns], index=False)
        splits = frame[split_column].astype(str)
        per_row = pd.DataFrame({"key": keys.to_numpy(), "split": splits.to_numpy()})
        spread = per_row.groupby("key")["split"].nunique()
        shared = spread[spread > 1]
        if len(shared):
            names = sorted(per_row.loc[per_row["key"].isin(shared.index), "split"].unique())
            found.append(
                Finding(
                    "uniqueness",
                    "cross_split_duplicates",
                    split_column,
                    len(shared),
                    "breach",
                    f"{len(shared)} distinct rows appear in more than one of the splits {', '.join(names)}.",
                )
            )
    return found


# -- consistency -----------------------------------------------------------------------------------


def _normalise(value: str) -> str:
    return re.sub(r"\s+", " ", value.strip()).casefold()


def _variants(frame: pd.DataFrame, columns: Sequence[str]) -> list[Finding]:
    found: list[Finding] = []
    for column in columns:
        series = frame[column]
        if series.dtype != object and not isinstance(series.dtype, pd.CategoricalDtype | pd.StringDtype):
            continue
        texts = series.dropna()
        texts = texts[texts.map(lambda v: isinstance(v, str))].astype(str)
        if texts.empty:
            continue
        counts = texts.value_counts()
        groups: dict[str, list[str]] = {}
        for raw in counts.index:
            groups.setdefault(_normalise(raw), []).append(raw)
        clashes = [raws for raws in groups.values() if len(raws) > 1]
        if not clashes:
            continue
        # Rows that carry a spelling other than their group's most common one.
        count = int(sum(counts[raws].sum() - counts[raws].max() for raws in clashes))
        shown = "; ".join(" and ".join(repr(r) for r in raws[:3]) for raws in clashes[:3])
        found.append(
            Finding(
                "consistency",
                "case_or_spacing_variants",
                column,
                count,
                "warning",
                f"column {column!r} has values that differ only by case or spacing: {shown}.",
            )
        )
    return found


def _conflicts(frame: pd.DataFrame, inputs: list[str], label: str) -> list[Finding]:
    if not inputs:
        return []
    labelled = frame[frame[label].notna()]
    keys = pd.util.hash_pandas_object(labelled[inputs], index=False).to_numpy()
    per_row = pd.DataFrame({"key": keys, "label": labelled[label].astype(str).to_numpy()})
    spread = per_row.groupby("key")["label"].transform("nunique")
    rows = int((spread > 1).sum())
    if not rows:
        return []
    groups = per_row.loc[spread > 1, "key"].nunique()
    return [
        Finding(
            "consistency",
            "conflicting_labels",
            label,
            rows,
            "warning",
            f"{rows} rows in {groups} groups of identical inputs carry different labels.",
        )
    ]


# -- comprehensiveness -----------------------------------------------------------------------------


def _rare_labels(frame: pd.DataFrame, label: str, min_examples: int, severity: Severity) -> list[Finding]:
    series = frame[label].dropna()
    if pd.api.types.is_float_dtype(series) and series.nunique() > 50:
        return [
            Finding(
                "comprehensiveness",
                "rare_label",
                label,
                0,
                "info",
                f"label {label!r} looks continuous, so examples per class were not counted.",
            )
        ]
    counts = series.value_counts()
    return [
        Finding(
            "comprehensiveness",
            "rare_label",
            label,
            int(count),
            severity,
            f"label {_show(value)} has {int(count)} examples, fewer than {min_examples}.",
        )
        for value, count in counts.items()
        if count < min_examples
    ]


# -- fairness --------------------------------------------------------------------------------------


def _positive(labels: pd.Series, positive_label: Any) -> Any:
    if positive_label is not None:
        return positive_label
    values = set(labels.dropna().unique().tolist())
    if values <= {0, 1} or values <= {False, True}:
        return 1
    return None


def _fairness(
    frame: pd.DataFrame,
    protected: Sequence[str],
    label: str | None,
    prediction: str | None,
    positive_label: Any,
    limits: dict[str, float],
    metrics: dict[str, float],
    details: dict[str, Any],
) -> list[Finding]:
    found: list[Finding] = []
    positive = _positive(frame[label], positive_label) if label and prediction else None
    if protected and label and prediction and positive is None:
        found.append(
            Finding(
                "fairness",
                "demographic_parity_difference",
                prediction,
                0,
                "info",
                "the labels are not 0/1, so performance gaps need a positive label and were not measured.",
            )
        )
    for column in protected:
        shares = (
            frame[column].astype(str).where(frame[column].notna(), "<missing>").value_counts(normalize=True)
        )
        details.setdefault("group_shares", {})[column] = {str(k): float(v) for k, v in shares.items()}
        for group, share in shares.items():
            if share < limits["min_group_share"]:
                rows = round(share * len(frame))
                found.append(
                    Finding(
                        "fairness",
                        "under_represented_group",
                        column,
                        rows,
                        "warning",
                        f"group {group!r} of {column!r} is {share:.1%} of the rows, below {limits['min_group_share']:.0%}.",
                    )
                )
        if positive is None or label is None or prediction is None:
            continue
        found.extend(_gaps(frame, column, label, prediction, positive, limits, metrics, details))
    return found


def _gaps(
    frame: pd.DataFrame,
    column: str,
    label: str,
    prediction: str,
    positive: Any,
    limits: dict[str, float],
    metrics: dict[str, float],
    details: dict[str, Any],
) -> list[Finding]:
    rates: dict[str, dict[str, float]] = {}
    for group, part in frame.groupby(frame[column].astype(str)):
        if len(part) < limits["min_group_rows"]:
            continue
        predicted = part[prediction] == positive
        actual = part[label] == positive
        rates[str(group)] = {
            "rows": float(len(part)),
            "positive_rate": float(predicted.mean()),
            "true_positive_rate": float(predicted[actual].mean()) if actual.any() else float("nan"),
            "accuracy": float((part[prediction] == part[label]).mean()),
        }
    details.setdefault("group_rates", {})[column] = rates
    found: list[Finding] = []
    for check, key, what in (
        ("demographic_parity_difference", "positive_rate", "positive prediction rates"),
        ("equal_opportunity_difference", "true_positive_rate", "true positive rates"),
    ):
        values = {g: r[key] for g, r in rates.items() if not np.isnan(r[key])}
        if len(values) < 2:
            continue
        high, low = max(values, key=lambda g: values[g]), min(values, key=lambda g: values[g])
        gap = values[high] - values[low]
        metrics[f"{check}_{column}"] = gap
        if gap > limits["parity_warning"]:
            severity: Severity = "breach" if gap > limits["parity_breach"] else "warning"
            rows = int(rates[high]["rows"] + rates[low]["rows"])
            found.append(
                Finding(
                    "fairness",
                    check,
                    column,
                    rows,
                    severity,
                    f"{what} differ by {gap:.2f} between groups {high!r} ({values[high]:.2f}) and {low!r} ({values[low]:.2f}) of {column!r}.",
                )
            )
    return found


# -- representativeness ----------------------------------------------------------------------------


def _representativeness(
    frame: pd.DataFrame,
    reference: pd.DataFrame,
    columns: list[str],
    metrics: dict[str, float],
    details: dict[str, Any],
) -> list[Finding]:
    try:
        from monitors.drift import detect_drift
    except ImportError:
        return [
            Finding(
                "representativeness",
                "drift_engine_unavailable",
                None,
                0,
                "info",
                "the drift engine (monitors.drift) is not installed, so representativeness was not checked.",
            )
        ]
    shared = [c for c in columns if c in reference.columns]
    if not shared:
        raise InvalidInput("the reference data share no column with the data.")
    result = detect_drift(reference[shared], frame[shared]).to_compact_dict()
    details["drift"] = result
    # A column counts when its p-value corrected over the columns is at most the column
    # false-positive rate (the data-drift monitor's warning): each column at its own 5 % made most
    # clean windows of a wide table warn (benchmarks/monitor_calibration.py).
    limit = result.get("column_fpr")

    def significant(column: dict[str, Any]) -> bool:
        if limit is None or column.get("p_adjusted") is None:
            return bool(column.get("drift_detected"))
        return bool(column["p_adjusted"] <= limit)

    drifted = [c for c in result["columns"] if significant(c)]
    metrics["drifted_columns"] = float(len(drifted))
    metrics["drift_share"] = float(result["drift_share"])
    found = [
        Finding(
            "representativeness",
            "distribution_shift",
            str(c["column"]),
            len(frame),
            "warning",
            f"column {c['column']!r} is distributed differently from the reference ({c.get('method')} score "
            f"{c.get('score', float('nan')):.3g}{_corrected(c)}).",
        )
        for c in drifted
    ]
    if result["dataset_drift"]:
        found.append(
            Finding(
                "representativeness",
                "distribution_shift",
                None,
                len(drifted),
                "breach",
                f"{len(drifted)} of {len(result['columns'])} columns drifted from the reference: the data do not represent it.",
            )
        )
    return found


def _corrected(column: dict[str, Any]) -> str:
    adjusted = column.get("p_adjusted")
    return f", {adjusted:.3g} after correction over the columns" if adjusted is not None else ""


# -- the report ------------------------------------------------------------------------------------


def _hashable(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with lists, dicts and arrays (from Parquet or JSON) written as text, so that rows
    can be compared and hashed."""
    changed = {}
    for column in frame.columns:
        if frame[column].dtype == object:
            values = frame[column]
            nested = values.map(lambda v: isinstance(v, list | dict | set | tuple | np.ndarray)).astype(bool)
            if nested.any():
                changed[column] = values.where(~nested, values[nested].map(str))
    return frame.assign(**changed) if changed else frame


def _require(frame: pd.DataFrame, column: str | None, role: str) -> None:
    if column is not None and column not in frame.columns:
        raise InvalidInput(f"{role} column {column!r} is not in the data.")


def assess_quality(
    frame: pd.DataFrame,
    *,
    label: str | None = None,
    split_column: str | None = None,
    protected: Sequence[str] = (),
    prediction: str | None = None,
    schema: Mapping[str, Mapping[str, Any]] | None = None,
    min_examples: int = 100,
    reference: pd.DataFrame | None = None,
    positive_label: Any = None,
    thresholds: Mapping[str, float] | None = None,
) -> QualityReport:
    """Check ``frame`` along the six data quality dimensions.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data (features, and optionally label, split, prediction and protected columns).
    label : str, optional
        The label column (consistency of labels, conflicts, comprehensiveness, fairness gaps).
    split_column : str, optional
        Column naming each row's split (train / validation / test): rows shared between splits.
    protected : sequence of str
        Protected attribute columns: representation and, with label and prediction, the
        demographic-parity and equal-opportunity differences between their groups.
    prediction : str, optional
        The model's prediction column.
    schema : mapping, optional
        ``{column: {"type": ..., "min": ..., "max": ..., "values": [...]}}``; types are
        int, float, number, str, category, bool, datetime.
    min_examples : int
        Label classes with fewer examples are reported.
    reference : pandas.DataFrame, optional
        Training data to compare with (representativeness, through ``monitors.drift``).
    positive_label : optional
        The positive class for the fairness gaps (default 1 for 0/1 or bool labels).
    thresholds : mapping, optional
        Overrides of :data:`DEFAULT_QUALITY_THRESHOLDS`.

    Returns
    -------
    QualityReport
    """
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInput("the data must be a pandas DataFrame.")
    if frame.empty or len(frame.columns) == 0:
        raise InvalidInput("the data have no rows.")
    limits = {**DEFAULT_QUALITY_THRESHOLDS, **(thresholds or {})}
    unknown = set(limits) - set(DEFAULT_QUALITY_THRESHOLDS)
    if unknown:
        raise InvalidInput(
            f"quality threshold {sorted(unknown)[0]!r} is not one of {', '.join(DEFAULT_QUALITY_THRESHOLDS)}."
        )
    if min_examples < 1:
        raise InvalidInput(f"minimum examples per label {min_examples} is not positive.")
    _require(frame, label, "label")
    _require(frame, split_column, "split")
    _require(frame, prediction, "prediction")
    for column in protected:
        _require(frame, column, "protected")
    frame = _hashable(frame.reset_index(drop=True))
    special = {c for c in (split_column, prediction) if c is not None}
    data_columns = [str(c) for c in frame.columns if c not in special]
    inputs = [c for c in data_columns if c != label]
    metrics: dict[str, float] = {"rows": float(len(frame)), "columns": float(len(frame.columns))}
    details: dict[str, Any] = {}

    findings = _validity(frame, schema, limits)
    findings += _uniqueness(frame, data_columns, split_column, limits)
    text_columns = [c for c in data_columns if c == label or c in protected or frame[c].dtype == object]
    findings += _variants(frame, text_columns)
    if label is not None:
        findings += _conflicts(frame, inputs, label)
        # A window's class counts follow its size, not the data's quality: judged against a
        # reference (the monitor), a class below min_examples is reported, not alarmed.
        findings += _rare_labels(frame, label, min_examples, "info" if reference is not None else "warning")
    findings += _fairness(frame, protected, label, prediction, positive_label, limits, metrics, details)
    if reference is not None:
        findings += _representativeness(frame, reference, data_columns, metrics, details)

    for check in sorted({f.check for f in findings}):
        metrics[check] = float(sum(f.count for f in findings if f.check == check))
    for severity in ("breach", "warning", "info"):
        metrics[f"{severity}_findings"] = float(sum(f.severity == severity for f in findings))
    status = worst_status(_status(f.severity) for f in findings)
    return QualityReport(
        monitor="quality",
        status=status,
        metrics=metrics,
        thresholds={**limits, "min_examples": float(min_examples)},
        summary=_summary(status, findings, len(frame)),
        details=details,
        findings=tuple(findings),
    )


def _summary(status: Status, findings: list[Finding], rows: int) -> str:
    problems = [f for f in findings if f.severity != "info"]
    if not problems:
        return f"No data quality problems were found in {rows} rows."
    worst = next(f for f in problems if _status(f.severity) == status)
    dimensions = sorted({f.dimension for f in problems}, key=DIMENSIONS.index)
    return (
        f"{len(problems)} data quality problem(s) in {rows} rows ({', '.join(dimensions)}); "
        f"the first {worst.severity}: {worst.message.rstrip('.')}."
    )
