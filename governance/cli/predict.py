"""``govern predict``: batch scoring with a registered model version, the platform's batch deployment.

The version is loaded only through :func:`trainer.modelio.load_model`, which checks the content
against the sha256 the registry recorded. The input's feature columns are the model's own (its
archive's feature names, else its registered reference or training data's columns); everything
else in the file passes through. With ``--log`` the scored rows become that version's production
records, as ``govern ingest`` would store them, with the latency each row's batch took. Every
check runs before anything is written.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from governance.cli.app import CliContext, emit, json_option, main, pass_ctx
from governance.errors import InvalidInput

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from sqlalchemy.orm import Session

    from governance.mlmodel.models import ModelVersion
    from monitors.loaded_model import LoadedModel
    from monitors.scoring import Scores

OUTPUT_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


def resolve_version(session: Session, model: str) -> ModelVersion:
    """``NAME@VERSION``, or the version of ``NAME`` in production now."""
    from governance.mlmodel import service as model_service
    from governance.refs import check_name

    if "@" in model:
        return model_service.get_by_ref(session, model)
    model_service.get_model(session, name=check_name(model, "model name"))
    current = model_service.list_versions(session, name=model, stage="production")
    if not current:
        raise InvalidInput(f"model {model} has no version in production; name one as {model}@VERSION")
    return current[-1]


def _suffix(path: Path) -> str | None:
    name = path.name.lower()
    return next((s for s in sorted(OUTPUT_SUFFIXES, key=len, reverse=True) if name.endswith(s)), None)


def output_path(source: Path, output: Path | None) -> Path:
    """Where the scored file goes: ``output``, or ``<name>.predictions.<suffix>`` beside the input."""
    if output is None:
        suffix = _suffix(source)
        if suffix is None:
            raise InvalidInput(f"file {source} must be CSV or Parquet")
        output = source.with_name(f"{source.name[: -len(suffix)]}.predictions{suffix}")
    if _suffix(output) is None:
        raise InvalidInput(f"output {output} must end in .csv, .csv.gz or .parquet")
    if output.exists() and source.exists() and output.resolve() == source.resolve():
        raise InvalidInput(f"output {output} is the input file; name another with -o")
    if output.is_dir():
        raise InvalidInput(f"output {output} is a directory, not a file")
    return output


def feature_columns(session: Session, mv: ModelVersion, loaded: LoadedModel) -> list[str]:
    from governance.production import service as production

    names = loaded.feature_names or production.stored_features(session, mv=mv)
    if not names:
        raise InvalidInput(
            f"{mv.ref} names no feature columns (no feature names in its archive, no reference data registered)"
        )
    return list(names)


def feature_matrix(frame: pd.DataFrame, features: list[str], path: Path, ref: str) -> np.ndarray:
    """The feature columns of ``frame`` as float32 rows; one sentence for what does not fit."""
    import numpy as np
    import pandas as pd

    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{path.name} is missing column(s) {', '.join(missing)} that {ref} needs")
    for column in features:
        values = frame[column]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            raise InvalidInput(f"column {column} of {path.name} must be numeric, as {ref} takes it")
        empty = values.isna().to_numpy()
        if empty.any():
            raise InvalidInput(
                f"column {column} of {path.name} has an empty value (row {int(empty.argmax())})"
            )
    return frame[features].to_numpy(dtype=np.float32)


def check_inputs(loaded: LoadedModel, features: list[str], ref: str) -> None:
    from trainer.architectures import MLPConfig

    if isinstance(loaded.config, MLPConfig) and loaded.config.n_features != len(features):
        raise InvalidInput(
            f"{ref} takes {loaded.config.n_features} inputs but names {len(features)} features"
        )


def run_model(loaded: LoadedModel, x: np.ndarray, path: Path, ref: str) -> Scores:
    from monitors.scoring import score

    try:
        return score(loaded, x)
    except InvalidInput:
        raise
    except RuntimeError as exc:  # a foreign model's own shape error: named, not a traceback
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise InvalidInput(f"{ref} cannot score the rows of {path.name}: {first.rstrip('.')}") from None


def scored_frame(frame: pd.DataFrame, scores: Scores, *, log: bool) -> tuple[pd.DataFrame, bool]:
    """The input with ``prediction`` and ``proba_<class>`` columns; with ``log``, request ids and a
    timestamp (now) are added where the file has none. Also says whether the ids were generated."""
    from governance.production.service import PROBABILITY_PREFIX

    out = frame.drop(
        columns=[c for c in frame.columns if c == "prediction" or c.startswith(PROBABILITY_PREFIX)]
    )
    generated = False
    if log and "request_id" not in out.columns:
        out.insert(0, "request_id", [uuid.uuid4().hex for _ in range(len(out))])
        generated = True
    if log and "timestamp" not in out.columns:
        out.insert(1 if "request_id" in out.columns else 0, "timestamp", datetime.now(UTC))
    out["prediction"] = scores.predictions.tolist()
    for i, name in enumerate(scores.classes):
        out[f"{PROBABILITY_PREFIX}{name}"] = scores.probabilities[:, i]
    return out, generated


def write_frame(frame: pd.DataFrame, path: Path) -> None:
    """Write beside the target, then rename, so a reader never sees half a file."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            frame.to_parquet(partial, index=False)
        else:
            frame.to_csv(
                partial, index=False, compression="gzip" if path.name.lower().endswith(".gz") else None
            )
        os.replace(partial, path)
    except OSError as exc:
        raise InvalidInput(f"output {path} cannot be written: {exc.strerror or exc}") from exc
    finally:
        partial.unlink(missing_ok=True)


def records_table(scored: pd.DataFrame, features: list[str], scores: Scores) -> Any:
    """The scored rows as production records: ids, times, features, prediction, probabilities, latency."""
    import pyarrow as pa

    from governance.production.service import PROBABILITY_PREFIX

    columns = ["request_id", "timestamp", *features, "prediction"]
    columns += [f"{PROBABILITY_PREFIX}{name}" for name in scores.classes]
    records = scored[columns].assign(latency_ms=scores.latency_ms)
    return pa.Table.from_pandas(records, preserve_index=False)


@main.command("predict")
@click.argument("model")
@click.argument("path", type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="The scored file (.csv, .csv.gz or .parquet; default: NAME.predictions.SUFFIX beside PATH).",
)
@click.option("--log", is_flag=True, help="Also store the scored rows as the version's production records.")
@json_option
@pass_ctx
def predict_command(
    cli: CliContext, model: str, path: Path, output: Path | None, log: bool, as_json: bool
) -> None:
    """Score PATH (CSV or Parquet) with MODEL (NAME@VERSION, or NAME for its production version).

    Writes the input with a prediction column and one proba_<class> column per class. With --log
    the rows are stored as MODEL's inference records (request_id and timestamp are generated when
    the file has none, and written to the output too, so labels can be matched later).
    """
    import hashlib

    from governance.production import service as production
    from governance.storage import LocalStorage, sha256_file
    from monitors.scoring import DEFAULT_BATCH_SIZE
    from trainer.modelio import load_model

    storage = LocalStorage(cli.settings.storage_root)
    target = output_path(path, output)
    with cli.db().transaction() as session:
        mv = resolve_version(session, model)
        frame = production.read_table(path).to_pandas()
        loaded = load_model(mv.artifact_location, expected_sha256=mv.sha256)
        features = feature_columns(session, mv, loaded)
        check_inputs(loaded, features, mv.ref)
        x = feature_matrix(frame, features, path, mv.ref)
        scores = run_model(loaded, x, path, mv.ref)
        scored, generated = scored_frame(frame, scores, log=log)
        batch: dict[str, Any] | None = None
        if log:
            sha = sha256_file(path)
            if generated:  # fresh ids: new requests, even when the same file is scored again
                sha = hashlib.sha256("\n".join([sha, *scored["request_id"]]).encode()).hexdigest()
            result = production.ingest_table(
                session,
                storage=storage,
                mv=mv,
                table=records_table(scored, features, scores),
                sha=sha,
                path=path,
                kind="predictions",
                actor=cli.settings.actor,
            )
            batch = {**result.batch.to_dict(), "created": result.created}
        write_frame(scored, target)
        ref = mv.ref
    data = {
        "model": ref,
        "input": str(path),
        "output": str(target),
        "rows": len(scored),
        "classes": scores.classes,
        "batch_latency_ms": [round(float(v), 3) for v in scores.latency_ms[::DEFAULT_BATCH_SIZE]],
        "logged": batch is not None,
        "batch": batch,
    }
    if batch is None:
        stored = ""
    elif batch["created"]:
        stored = f"; stored as batch {batch['id']} of {ref}"
    else:
        stored = f"; already stored as batch {batch['id']} of {ref}, nothing logged"
    emit(data, as_json, f"scored {len(scored)} rows of {path.name} with {ref} -> {target}{stored}")
