"""File-based monitor commands: ``performance`` (metrics per window and concept drift points) and
``quality`` (the six data quality dimensions).

The monitors (pandas, scikit-learn, river) are imported inside the commands so that
``govern --help`` stays fast. Data files are CSV (also ``.csv.gz``) or Parquet.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from governance.cli.app import emit, json_option, main, table
from governance.errors import InvalidInput

if TYPE_CHECKING:
    import pandas as pd

    from monitors.performance import Task

DETECTOR_CHOICES = ["adwin", "ddm", "eddm", "page-hinkley", "vote"]


def read_frame(path: str, what: str = "data file") -> pd.DataFrame:
    """A CSV (``.csv``, ``.csv.gz``, ``.txt``, ``.tsv``) or Parquet file as a frame indexed by row position."""
    from governance import data

    file = data.open_data(Path(path), what=what)
    if file.format == "npz":
        raise InvalidInput(f"{what} {path} is an NPZ archive, not a table of columns")
    frame = data.read_frame(Path(path), what=what)
    if frame.empty:
        raise InvalidInput(f"{what} {path} has no rows.")
    return frame.reset_index(drop=True)


def _require(frame: pd.DataFrame, column: str | None, role: str, path: str) -> None:
    if column is not None and column not in frame.columns:
        raise InvalidInput(f"{role} column {column!r} is not in {path}.")


def _parse_baseline(text: str | None) -> dict[str, float]:
    if not text:
        return {}
    baseline: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            baseline[name.strip()] = float(value)
        except ValueError:
            raise InvalidInput(
                f"--baseline must be METRIC=VALUE pairs separated by commas, got {text!r}."
            ) from None
    return baseline


@main.command("performance")
@click.argument("data_file")
@click.option("--label", required=True, help="The ground-truth column.")
@click.option("--prediction", required=True, help="The model's prediction column.")
@click.option("--score", help="The positive class's score column (for ROC-AUC).")
@click.option("--time-column", help="Timestamp column: orders the stream and, with --freq, cuts the windows.")
@click.option("--window", "window_size", type=int, help="Windows of N rows.")
@click.option("--freq", help="Time windows of a pandas frequency (1D, 6h...); needs --time-column.")
@click.option("--detector", type=click.Choice(DETECTOR_CHOICES), default="adwin", show_default=True)
@click.option(
    "--task", type=click.Choice(["classification", "regression"]), default="classification", show_default=True
)
@click.option("--baseline", help="Validation metrics to judge each window against: accuracy=0.95,f1=0.93.")
@click.option(
    "--max-drop", default=0.05, show_default=True, type=float, help="Breach drop from the baseline."
)
@click.option(
    "--warn-drop", default=0.02, show_default=True, type=float, help="Warning drop from the baseline."
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the bootstrap.")
@json_option
def performance_command(
    data_file: str,
    label: str,
    prediction: str,
    score: str | None,
    time_column: str | None,
    window_size: int | None,
    freq: str | None,
    detector: str,
    task: str,
    baseline: str | None,
    max_drop: float,
    warn_drop: float,
    seed: int,
    as_json: bool,
) -> None:
    """Metrics per window of DATA_FILE and the rows where the error stream's drift detector fired.

    Drift points are 0-based row positions in the file's order.
    """
    import numpy as np

    from monitors.concept_drift import detect_drift_points
    from monitors.performance import assess_performance, split_windows, window_metrics

    if window_size is not None and freq is not None:
        raise InvalidInput("give either --window or --freq, not both.")
    if task == "regression" and detector in ("ddm", "eddm"):
        raise InvalidInput(f"detector {detector} needs 0/1 errors; use adwin or page-hinkley for regression.")
    judged = _parse_baseline(baseline)
    frame = read_frame(data_file)
    for column, role in (
        (label, "label"),
        (prediction, "prediction"),
        (score, "score"),
        (time_column, "time"),
    ):
        _require(frame, column, role, data_file)
    labelled = frame[frame[label].notna() & frame[prediction].notna()]
    if labelled.empty:
        raise InvalidInput(f"data file {data_file} has no row with both a label and a prediction.")
    if task == "regression":
        for column in (label, prediction):
            if not np.issubdtype(labelled[column].dtype, np.number):
                raise InvalidInput(f"column {column!r} must be numeric for regression.")
    if score is not None and not np.issubdtype(labelled[score].dtype, np.number):
        raise InvalidInput(f"score column {score!r} is not numeric.")

    if time_column is not None:
        labelled = _in_time_order(labelled, time_column)
    kind = cast("Task", task)
    windows = []
    for window in split_windows(labelled, time_column=time_column, size=window_size, freq=freq):
        part = window.frame
        scores = part[score].to_numpy() if score is not None and task == "classification" else None
        start, end = window.start, window.end
        if not hasattr(start, "isoformat"):
            # Count windows: the file positions of the window's first row and one past its last.
            start, end = int(part.index[0]), int(part.index[-1]) + 1
        row: dict[str, Any] = {"window": window.index, "start": start, "end": end}
        if judged:
            result = assess_performance(
                part[label].to_numpy(),
                part[prediction].to_numpy(),
                scores,
                task=kind,
                baseline=judged,
                max_drop=max_drop,
                warn_drop=warn_drop,
                seed=seed,
            )
            row.update({"status": result.status, "summary": result.summary})
        metrics = window_metrics(
            part[label].to_numpy(),
            part[prediction].to_numpy(),
            scores,
            task=kind,
            seed=seed,
        )
        row.update(metrics.to_dict())
        windows.append(row)

    truth, predicted = labelled[label].to_numpy(), labelled[prediction].to_numpy()
    errors = (
        np.abs(predicted.astype(float) - truth.astype(float))
        if task == "regression"
        else (predicted != truth)
    )
    positions = labelled.index.to_numpy()
    points = [int(positions[i]) for i in detect_drift_points(errors, detector=detector)]
    data = {"detector": detector, "task": task, "windows": _jsonable(windows), "drift_points": points}

    def human() -> None:
        names = [k for k in windows[0] if k not in ("window", "summary") and not k.endswith("_ci")]
        table([{k: _fmt(w.get(k)) for k in names} for w in windows], names)
        where = ", ".join(str(p) for p in points) if points else "none"
        click.echo(f"drift detected ({detector}) at rows: {where}")

    emit(data, as_json, human)


def _in_time_order(frame: pd.DataFrame, time_column: str) -> pd.DataFrame:
    from monitors.performance import to_timestamps

    times = to_timestamps(frame[time_column], time_column)
    if times.isna().any():
        raise InvalidInput(f"time column {time_column!r} has {int(times.isna().sum())} missing timestamps.")
    return frame.loc[times.sort_values(kind="stable").index]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if hasattr(value, "isoformat"):
        return str(value.isoformat())
    return str(value)


def _jsonable(value: Any) -> Any:
    from monitors.result import to_jsonable

    return to_jsonable(value)


@main.command("quality")
@click.argument("data_file")
@click.option("--label", help="The label column.")
@click.option("--split-column", help="The column naming each row's split (train, validation, test).")
@click.option("--protected", multiple=True, help="A protected attribute column (repeatable).")
@click.option("--prediction", help="The model's prediction column (for fairness gaps).")
@click.option("--min-examples", default=100, show_default=True, type=int, help="Fewest examples per label.")
@click.option("--schema", "schema_file", help='JSON file: {"column": {"type", "min", "max", "values"}}.')
@click.option("--reference", "reference_file", help="Training data to compare with (representativeness).")
@json_option
def quality_command(
    data_file: str,
    label: str | None,
    split_column: str | None,
    protected: tuple[str, ...],
    prediction: str | None,
    min_examples: int,
    schema_file: str | None,
    reference_file: str | None,
    as_json: bool,
) -> None:
    """Check DATA_FILE's validity, uniqueness, consistency, comprehensiveness, fairness, representativeness."""
    from monitors.quality import assess_quality

    frame = read_frame(data_file)
    for column, role in ((label, "label"), (split_column, "split"), (prediction, "prediction")):
        _require(frame, column, role, data_file)
    for column in protected:
        _require(frame, column, "protected", data_file)
    schema = _read_schema(schema_file) if schema_file else None
    reference = read_frame(reference_file, "reference file") if reference_file else None
    report = assess_quality(
        frame,
        label=label,
        split_column=split_column,
        protected=protected,
        prediction=prediction,
        schema=schema,
        min_examples=min_examples,
        reference=reference,
    )
    findings = [f.to_dict() for f in report.findings]
    data = {"status": report.status, "summary": report.summary, "findings": findings}

    def human() -> None:
        table(findings, ["severity", "dimension", "check", "column", "count", "message"])
        click.echo(report.summary)

    emit(data, as_json, human)


def _read_schema(path: str) -> dict[str, dict[str, Any]]:
    file = Path(path)
    if not file.is_file():
        raise InvalidInput(f"schema file {path} does not exist.")
    try:
        schema = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"schema file {path} is not valid JSON: {exc}.") from exc
    if not isinstance(schema, dict) or not all(isinstance(v, dict) for v in schema.values()):
        raise InvalidInput(f"schema file {path} must map each column to an object.")
    return schema
