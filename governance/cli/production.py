"""Production data commands: ingest inference records and late labels."""

from __future__ import annotations

from pathlib import Path

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx, table


def _ingest(cli: CliContext, ref: str, path: Path, kind: str, as_json: bool) -> None:
    from governance.mlmodel import service as model_service
    from governance.production import service
    from governance.storage import LocalStorage

    storage = LocalStorage(cli.settings.storage_root)
    with cli.db().transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        result = service.ingest(
            session, storage=storage, mv=mv, path=path, kind=kind, actor=cli.settings.actor
        )
        data = {**result.batch.to_dict(), "created": result.created}
    if data["created"]:
        span = f", {data['time_min']} .. {data['time_max']}" if data["time_min"] else ""
        human = f"stored {data['rows']} {kind} records for {ref} (batch {data['id']}{span})"
    else:
        human = f"batch already stored for {ref} (batch {data['id']}, same content): nothing changed"
    emit(data, as_json, human)


@main.command("ingest")
@click.argument("ref")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
@pass_ctx
def ingest_command(cli: CliContext, ref: str, path: Path, as_json: bool) -> None:
    """Store a batch of inference records (CSV or Parquet) for model NAME@VERSION.

    Columns: request_id, timestamp, the model's feature columns, prediction, optionally
    proba_<class>..., latency_ms, error, status.
    """
    _ingest(cli, ref, path, "predictions", as_json)


@main.command("labels")
@click.argument("ref")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
@pass_ctx
def labels_command(cli: CliContext, ref: str, path: Path, as_json: bool) -> None:
    """Store ground truth that arrived later (request_id, label[, labeled_at]) for NAME@VERSION."""
    _ingest(cli, ref, path, "labels", as_json)


@main.command("batches")
@click.argument("ref")
@json_option
@pass_ctx
def batches_command(cli: CliContext, ref: str, as_json: bool) -> None:
    """List the stored production batches of NAME@VERSION."""
    from governance.mlmodel import service as model_service
    from governance.production import service

    with cli.db().transaction() as session:
        rows = [b.to_dict() for b in service.list_batches(session, mv=model_service.get_by_ref(session, ref))]
    emit(rows, as_json, lambda: table(rows, ["id", "kind", "rows", "time_min", "time_max", "sha256"]))
