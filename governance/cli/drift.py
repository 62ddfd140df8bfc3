"""``govern drift``: the data drift engine on two files (or a stored reference profile and a file)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import click

from governance.cli.app import emit, json_option, main, table
from governance.cli.progress import follow
from governance.errors import InvalidInput

logger = logging.getLogger(__name__)


def _pairs(values: tuple[str, ...], option: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for value in values:
        column, sep, setting = value.rpartition("=")
        if not sep or not column or not setting:
            raise InvalidInput(f"{option} {value!r} is not COLUMN=VALUE")
        pairs[column] = setting
    return pairs


def _thresholds(values: tuple[str, ...]) -> dict[str, float]:
    thresholds: dict[str, float] = {}
    for column, text in _pairs(values, "--threshold").items():
        try:
            thresholds[column] = float(text)
            if not math.isfinite(thresholds[column]):
                raise ValueError(text)
        except ValueError:
            raise InvalidInput(f"--threshold for column {column!r} is not a number: {text!r}") from None
    return thresholds


@main.command("drift")
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("current", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--method",
    "methods",
    multiple=True,
    metavar="COL=METHOD",
    help="Drift method for a column (ks, chisquare, z, wasserstein, jensenshannon, psi, kl_div).",
)
@click.option("--threshold", "thresholds", multiple=True, metavar="COL=VALUE", help="Threshold for a column.")
@click.option(
    "--drift-share",
    type=float,
    default=0.5,
    show_default=True,
    help="Share of drifted columns that makes dataset drift.",
)
@click.option(
    "--save-profile",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Store the reference profile here, for later runs.",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write Evidently's HTML report (on a bounded sample) here.",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "dask"]),
    default="local",
    show_default=True,
    help="Where the current window is profiled.",
)
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address, for --engine dask.")
@click.option(
    "--preset",
    type=click.Choice(["calibrated", "evidently"]),
    default="calibrated",
    show_default=True,
    help="calibrated: p-values at these sample sizes, corrected over columns; "
    "evidently: Evidently 0.7's DataDriftPreset verdicts unchanged.",
)
@click.option(
    "--column-fpr",
    type=float,
    default=0.05,
    show_default=True,
    help="Calibrated: false-positive rate of each column's test.",
)
@click.option(
    "--family-fpr",
    type=float,
    default=0.01,
    show_default=True,
    help="Calibrated: false-alarm rate of the dataset verdict over all columns.",
)
@click.option(
    "--correction",
    type=click.Choice(["holm", "bh"]),
    default="holm",
    show_default=True,
    help="Calibrated: Holm (family-wise) or Benjamini-Hochberg over columns.",
)
@click.option(
    "--multivariate",
    is_flag=True,
    help="Also run the domain-classifier and PCA reconstruction-error tests on bounded samples.",
)
@json_option
def drift_command(
    reference: Path,
    current: Path,
    methods: tuple[str, ...],
    thresholds: tuple[str, ...],
    drift_share: float,
    save_profile: Path | None,
    report: Path | None,
    engine: str,
    scheduler: str | None,
    preset: str,
    column_fpr: float,
    family_fpr: float,
    correction: str,
    multivariate: bool,
    as_json: bool,
) -> None:
    """Compare CURRENT with REFERENCE, column by column (and jointly with --multivariate).

    By default each column gets a test whose false-positive rate holds at these sample sizes and
    the dataset verdict is corrected over columns; --preset evidently gives Evidently's
    DataDriftPreset verdicts. REFERENCE is a CSV (also gzipped) or Parquet file, or a profile saved
    by --save-profile; CURRENT is a CSV or Parquet file, read chunk by chunk. Exits 0 whether or
    not drift is found.
    """
    from monitors.drift.engine import compare_profiles
    from monitors.drift.io import profile_path
    from monitors.drift.profile import DatasetProfile, is_profile_file
    from monitors.drift.report import DEFAULT_REPORT_ROWS, save_report

    method_map = _pairs(methods, "--method")
    threshold_map = _thresholds(thresholds)
    if engine == "dask" and not scheduler:
        raise InvalidInput("--engine dask needs --scheduler ADDRESS")
    for path in (reference, current):
        if not path.is_file():
            raise InvalidInput(f"{path} does not exist")
    from monitors.drift.multivariate import SAMPLE_ROWS

    sample_size = DEFAULT_REPORT_ROWS if (report or save_profile) else 0
    if multivariate:
        sample_size = max(sample_size, SAMPLE_ROWS)

    with follow(as_json):
        if is_profile_file(reference):
            reference_profile = DatasetProfile.load(reference)
        else:
            reference_profile = profile_path(reference, sample_size=sample_size)
        if save_profile:
            reference_profile.save(save_profile)
        if engine == "dask":
            from monitors.drift.dask_engine import profile_with_dask

            current_profile = profile_with_dask(str(current), scheduler=scheduler, sample_size=sample_size)
        else:
            current_profile = profile_path(
                current, sample_size=SAMPLE_ROWS if multivariate else (DEFAULT_REPORT_ROWS if report else 0)
            )
    result = compare_profiles(
        reference_profile,
        current_profile,
        methods=method_map,
        thresholds=threshold_map,
        drift_share=drift_share,
        preset=preset,
        column_fpr=column_fpr,
        family_fpr=family_fpr,
        correction=correction,
    )
    joint: list[Any] = []
    if multivariate:
        from monitors.drift.multivariate import multivariate_drift

        if reference_profile.sample is None or current_profile.sample is None:
            raise InvalidInput(f"{reference} is a profile saved without rows: --multivariate needs them")
        joint = multivariate_drift(reference_profile.sample, current_profile.sample, alpha=family_fpr)
    if report:
        if reference_profile.sample is None or current_profile.sample is None:
            raise InvalidInput(f"{reference} is a profile saved without rows: the report needs them")
        save_report(
            reference_profile.sample,
            current_profile.sample,
            report,
            methods=method_map,
            thresholds=threshold_map,
            drift_share=drift_share,
        )

    def human() -> None:
        calibrated = preset == "calibrated"
        rows: list[dict[str, Any]] = [
            {
                "column": c.column,
                "type": c.type,
                "method": c.method,
                "score": f"{c.score:.6g}",
                "threshold": f"{c.threshold:g}",
                "drift": "DRIFT" if c.drift_detected else "-",
                "missing": f"{c.reference_missing}/{c.current_missing}",
                **(
                    {
                        "adjusted": f"{c.p_adjusted:.3g}",
                        "effect": ", ".join(f"{k} {v:.3g}" for k, v in (c.effect or {}).items()),
                    }
                    if calibrated
                    else {}
                ),
            }
            for c in result.columns
        ]
        extra = ["adjusted", "effect"] if calibrated else []
        table(rows, ["column", "type", "method", "score", "threshold", "drift", *extra, "missing"])
        verdict = "dataset drift" if result.dataset_drift else "no dataset drift"
        if calibrated:
            click.echo(
                f"{result.drifted_count} of {len(result.columns)} columns drifted at the column "
                f"false-positive rate {column_fpr:g}; {result.significant_count} after {correction} "
                f"correction; {verdict} at the family-wise false-alarm rate {family_fpr:g}"
            )
        else:
            click.echo(
                f"{result.drifted_count} of {len(result.columns)} columns drifted "
                f"(share {result.drift_share:.3g}, threshold {drift_share:g}): {verdict}"
            )
        for test in joint:
            click.echo(
                f"{test.name}: {test.statistic_name} {test.statistic:.4g} (threshold {test.threshold:.4g}, "
                f"p {test.p_value:.3g}): {'DRIFT' if test.drift_detected else 'no drift'}"
                + (f"; look at {', '.join(test.top_features)}" if test.top_features else "")
            )
        if result.skipped:
            click.echo(f"not tested (text or unsupported type): {', '.join(result.skipped)}")
        if report:
            click.echo(f"report: {report}")

    payload = result.to_compact_dict()
    if multivariate:
        payload["multivariate"] = [t.to_dict() for t in joint]
    emit(payload, as_json, human)
