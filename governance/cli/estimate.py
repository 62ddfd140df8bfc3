"""``govern estimate``: a classifier's performance per chunk estimated from its probabilities (CBPE)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from governance.cli.app import emit, json_option, main, table
from governance.errors import InvalidInput


@main.command("estimate")
@click.argument("reference", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("analysis", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--label", required=True, metavar="COL", help="The label column (required in REFERENCE).")
@click.option("--prediction", required=True, metavar="COL", help="The predicted-class column.")
@click.option("--chunk-size", type=int, metavar="N", help="Rows per chunk.")
@click.option("--time-column", metavar="COL", help="Chunk by periods of this time column (with --freq).")
@click.option("--freq", metavar="FREQ", help="Period of a time chunk, e.g. 1D, 1W, 6h.")
@click.option(
    "--metrics",
    default="roc_auc,accuracy,f1,precision,recall",
    show_default=True,
    help="Comma-separated metrics to estimate.",
)
@json_option
def estimate_command(
    reference: Path,
    analysis: Path,
    label: str,
    prediction: str,
    chunk_size: int | None,
    time_column: str | None,
    freq: str | None,
    metrics: str,
    as_json: bool,
) -> None:
    """Estimate a classifier's metrics on ANALYSIS chunks before labels arrive (CBPE).

    REFERENCE has labels, predictions and proba_<class> columns; ANALYSIS has the predictions and
    probabilities (labels too, if they have arrived: then the realized metrics are shown beside).
    """
    from monitors.drift.io import read_frame
    from monitors.estimation import CBPE

    if chunk_size is not None and time_column is not None:
        raise InvalidInput("give --chunk-size or --time-column, not both")
    if chunk_size is None and time_column is None:
        raise InvalidInput("give --chunk-size N or --time-column COL --freq FREQ")
    if time_column is not None and not freq:
        raise InvalidInput("--time-column needs --freq (e.g. 1D)")
    chosen = tuple(m.strip() for m in metrics.split(",") if m.strip())
    for path in (reference, analysis):
        if not path.is_file():
            raise InvalidInput(f"{path} does not exist")
    estimator = CBPE(label=label, prediction=prediction, metrics=chosen).fit(read_frame(reference))
    result = estimator.estimate(
        read_frame(analysis), chunk_size=chunk_size, time_column=time_column, freq=freq
    )

    def human() -> None:
        rows: list[dict[str, Any]] = []
        for chunk in result.chunks:
            row: dict[str, Any] = {"chunk": chunk.key, "rows": chunk.rows}
            for m in result.metrics:
                row[m] = f"{chunk.estimated[m]:.3f} [{chunk.lower[m]:.3f}, {chunk.upper[m]:.3f}]"
                if chunk.realized is not None:
                    row[m] += f" (realized {chunk.realized[m]:.3f})"
            rows.append(row)
        table(rows, ["chunk", "rows", *result.metrics])
        click.echo(f"classes: {', '.join(result.classes)}; estimate [3-SD sampling band]")

    emit(result.to_dict(), as_json, human)
