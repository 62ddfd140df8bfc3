"""Production data commands: ingest inference records and late labels, list batches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx, table


def _ingest(cli: CliContext, ref: str, path: Path, kind: str, as_json: bool) -> None:
    from governance.mlmodel import service as model_service
    from governance.production import routing, service
    from governance.storage import LocalStorage

    storage = LocalStorage(cli.settings.storage_root)
    actor = cli.settings.actor
    if "@" not in ref:
        with cli.db().transaction() as session:
            routed = routing.ingest_by_name(
                session, storage=storage, name=ref, path=path, kind=kind, actor=actor
            )
            data = routed.to_dict()
        emit(data, as_json, _routed_human(data))
        return
    with cli.db().transaction() as session:
        mv = model_service.get_by_ref(session, ref)
        result = service.ingest(session, storage=storage, mv=mv, path=path, kind=kind, actor=actor)
        data = {**result.batch.to_dict(), "created": result.created}
    if data["created"]:
        span = f", {data['time_min']} .. {data['time_max']}" if data["time_min"] else ""
        human = f"stored {data['rows']} {kind} records for {ref} (batch {data['id']}{span})"
    else:
        human = f"batch already stored for {ref} (batch {data['id']}, same content): nothing changed"
    emit(data, as_json, human)


def _routed_human(data: dict[str, Any]) -> str:
    parts = ", ".join(
        f"{b['rows']} to {b['model']} (batch {b['id']}{'' if b['created'] else ', already stored'})"
        for b in data["batches"]
    )
    if not data["created"]:
        return f"already stored for {data['model']} ({parts}): nothing changed"
    return f"stored {data['rows']} {data['kind']} records for {data['model']}: {parts}"


@main.command("ingest")
@click.argument("ref")
@click.argument("path", type=click.Path(path_type=Path))
@json_option
@pass_ctx
def ingest_command(cli: CliContext, ref: str, path: Path, as_json: bool) -> None:
    """Store a batch of inference records (CSV or Parquet) for model NAME@VERSION, or NAME.

    With a bare NAME each record goes to the version that was in production at its timestamp
    (the stage history says which); records from before any production version are refused.

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
    """Store ground truth that arrived later (request_id, label[, labeled_at]) for NAME@VERSION, or NAME.

    With a bare NAME each label goes to the version whose records carry its request_id.
    """
    _ingest(cli, ref, path, "labels", as_json)


@main.command("batches")
@click.argument("ref")
@json_option
@pass_ctx
def batches_command(cli: CliContext, ref: str, as_json: bool) -> None:
    """List the stored production batches of NAME@VERSION (or of every version of NAME)."""
    from governance.mlmodel import service as model_service
    from governance.production import service
    from governance.refs import check_name

    with cli.db().transaction() as session:
        if "@" in ref:
            versions = [model_service.get_by_ref(session, ref)]
        else:
            model_service.get_model(session, name=check_name(ref, "model name"))
            versions = model_service.list_versions(session, name=ref)
        rows = [b.to_dict() for mv in versions for b in service.list_batches(session, mv=mv)]
    columns = ["id", "kind", "rows", "time_min", "time_max", "sha256"]
    emit(rows, as_json, lambda: table(rows, columns if "@" in ref else ["id", "model", *columns[1:]]))
