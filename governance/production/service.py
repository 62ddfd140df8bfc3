"""Production data in: inference batches and late labels, stored as Parquet and indexed.

A batch is validated against the model's feature schema (the columns of its reference or
training dataset, less the label) before anything is written; it is stored under the storage root
(temporary name, then rename) and indexed with its row count, time range and content hash. The
same file twice is a no-op. Windows are read batch by batch, filtered by time, so no monitor ever
loads the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, joinedload

from governance import data
from governance.audit import service as audit_service
from governance.errors import InvalidInput
from governance.mlmodel.models import ModelVersion
from governance.production.models import InferenceBatch
from governance.review import service as review_service
from governance.review.models import MAX_REQUEST_ID
from governance.storage import LocalStorage, sha256_file

REQUIRED_PREDICTION_COLUMNS = ("request_id", "timestamp", "prediction")
OPTIONAL_PREDICTION_COLUMNS = ("latency_ms", "error", "status")
PROBABILITY_PREFIX = "proba_"
REQUIRED_LABEL_COLUMNS = ("request_id", "label")
OPTIONAL_LABEL_COLUMNS = ("labeled_at",)


@dataclass(frozen=True)
class Ingestion:
    batch: InferenceBatch
    created: bool


def feature_schema(mv: ModelVersion) -> dict[str, str] | None:
    """The model's input columns and their types: its reference dataset's (else its training
    dataset's), less the label; None when the model has no tabular dataset registered."""
    dv = mv.reference_dataset(formats=("csv", "parquet"))
    if dv is None:
        return None
    return {c["name"]: c["type"] for c in dv.columns if c["name"] != dv.label_column}


def read_table(path: Path) -> pa.Table:
    """The records of a CSV (optionally gzipped) or Parquet file; one sentence when it cannot be read."""
    if data.open_data(path).format not in ("csv", "parquet"):
        raise InvalidInput(f"file {path} must be CSV or Parquet")
    table = data.read_table(path)
    if table.num_rows == 0:
        raise InvalidInput(f"file {path} holds no records")
    return table


UTC_MICROS = pa.timestamp("us", tz="UTC")


def utc_times(table: pa.Table, column: str, path: Path) -> pa.Table:
    """``column`` of ``table`` as UTC timestamps in microseconds; one sentence naming a bad value."""
    raw = table.column(column)
    if raw.null_count == 0:
        if raw.type == UTC_MICROS:
            return table  # converted already (records split by time are validated again)
        if pa.types.is_string(raw.type) or pa.types.is_large_string(raw.type):
            try:  # Arrow parses ISO 8601 times with a zone offset about 3x faster than pandas
                parsed_utc = pc.cast(raw, UTC_MICROS)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # no offset, nanoseconds, other spellings: pandas below reads them
            else:
                return table.set_column(table.schema.get_field_index(column), column, parsed_utc)
    values = raw.to_pandas()
    if pa.types.is_timestamp(table.schema.field(column).type):
        parsed = pd.to_datetime(values, utc=True)
    else:
        parsed = pd.to_datetime(values.astype("string"), utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna() & values.notna() | values.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InvalidInput(
            f"column {column} of {path.name} has a value that is not a time (row {row}: {values.iloc[row]!r})"
        )
    array = pa.array(parsed.dt.tz_convert("UTC").to_numpy(dtype="datetime64[us]"), type=UTC_MICROS)
    return table.set_column(table.schema.get_field_index(column), column, array)


def check_unique_ids(table: pa.Table, path: Path) -> pa.Table:
    ids = table.column("request_id").cast(pa.string())
    if ids.null_count:
        raise InvalidInput(f"column request_id of {path.name} has empty values")
    if len(ids) and pc.max(pc.utf8_length(ids)).as_py() > MAX_REQUEST_ID:  # else it escapes review
        raise InvalidInput(f"column request_id of {path.name} has a value over {MAX_REQUEST_ID} characters")
    if pc.count_distinct(ids).as_py() < len(ids):
        counts = pc.value_counts(ids)
        dupes = counts.field("values").filter(pc.greater(counts.field("counts"), 1))
        raise InvalidInput(f"column request_id of {path.name} repeats '{dupes[0].as_py()}'")
    return table.set_column(table.schema.get_field_index("request_id"), "request_id", ids)


def _numeric(dtype: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(dtype)
        or pa.types.is_floating(dtype)
        or pa.types.is_boolean(dtype)
        or pa.types.is_null(dtype)
    )


def _numeric_name(type_name: str) -> bool:
    return type_name.startswith(("int", "uint", "float", "double", "bool", "halffloat"))


def validate_predictions(
    table: pa.Table,
    features: list[str] | None,
    path: Path,
    model_ref: str,
    reference_types: dict[str, str] | None = None,
) -> pa.Table:
    names = table.column_names
    missing = [c for c in REQUIRED_PREDICTION_COLUMNS if c not in names]
    if features is not None:
        missing += [c for c in features if c not in names]
    if missing:
        raise InvalidInput(f"{path.name} is missing column(s) {', '.join(missing)} that {model_ref} needs")
    known = {*REQUIRED_PREDICTION_COLUMNS, *OPTIONAL_PREDICTION_COLUMNS, *(features or [])}
    unexpected = [c for c in names if c not in known and not c.startswith(PROBABILITY_PREFIX)]
    if features is not None and unexpected:
        raise InvalidInput(
            f"{path.name} has column(s) {', '.join(unexpected)} that are not in {model_ref}'s schema"
        )
    if "latency_ms" in names and not _numeric(table.schema.field("latency_ms").type):
        raise InvalidInput(f"column latency_ms of {path.name} must be numeric")
    for column, expected in (reference_types or {}).items():
        if column in names and _numeric_name(expected) and not _numeric(table.schema.field(column).type):
            raise InvalidInput(
                f"column {column} of {path.name} must be numeric, as in {model_ref}'s reference data"
            )
    table = check_unique_ids(table, path)
    return utc_times(table, "timestamp", path)


def validate_labels(table: pa.Table, path: Path) -> pa.Table:
    names = table.column_names
    missing = [c for c in REQUIRED_LABEL_COLUMNS if c not in names]
    if missing:
        raise InvalidInput(f"{path.name} is missing column(s) {', '.join(missing)}")
    unexpected = [c for c in names if c not in (*REQUIRED_LABEL_COLUMNS, *OPTIONAL_LABEL_COLUMNS)]
    if unexpected:
        raise InvalidInput(
            f"{path.name} has column(s) {', '.join(unexpected)}; labels take request_id, label, labeled_at"
        )
    table = check_unique_ids(table, path)
    if "labeled_at" in names:
        table = utc_times(table, "labeled_at", path)
    return table


def _store(session: Session, storage: LocalStorage, table: pa.Table, sha: str, kind: str) -> str:
    target = storage.path_for(f"batches/{kind}", sha, ".parquet")
    if storage.claim(session, target):
        return target
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    import io

    return storage.put_bytes_stream(
        session, io.BytesIO(sink.getvalue().to_pybytes()), kind=f"batches/{kind}", name=f"{sha}.parquet"
    )


def ingest(
    session: Session, *, storage: LocalStorage, mv: ModelVersion, path: Path, kind: str, actor: str
) -> Ingestion:
    """Validate, store and index one batch of predictions or labels for ``mv``."""
    path = Path(path)
    table = read_table(path)
    return ingest_table(
        session, storage=storage, mv=mv, table=table, sha=sha256_file(path), path=path, kind=kind, actor=actor
    )


def ingest_table(
    session: Session,
    *,
    storage: LocalStorage,
    mv: ModelVersion,
    table: pa.Table,
    sha: str,
    path: Path,
    kind: str,
    actor: str,
) -> Ingestion:
    """Validate, store and index ``table`` (read from ``path``, identified by ``sha``) for ``mv``."""
    existing = find_batch(session, mv=mv, kind=kind, sha=sha)
    if existing is not None:
        return Ingestion(existing, created=False)
    table = validate(session, mv=mv, table=table, path=path, kind=kind)
    return Ingestion(
        store(session, storage=storage, mv=mv, table=table, sha=sha, path=path, kind=kind, actor=actor), True
    )


def find_batch(session: Session, *, mv: ModelVersion, kind: str, sha: str) -> InferenceBatch | None:
    """The batch of ``mv`` already stored with this content hash, if any (the same file twice is a no-op)."""
    return session.scalar(
        select(InferenceBatch).where(
            InferenceBatch.model_version_id == mv.id,
            InferenceBatch.kind == kind,
            InferenceBatch.sha256 == sha,
        )
    )


def stored_features(session: Session, *, mv: ModelVersion) -> list[str] | None:
    """The feature columns records of ``mv`` must carry: its registered schema's, else those of its
    first stored batch; None when neither says."""
    schema = feature_schema(mv)
    if schema is not None:
        return list(schema)
    first = session.scalar(
        select(InferenceBatch)
        .where(InferenceBatch.model_version_id == mv.id, InferenceBatch.kind == "predictions")
        .order_by(InferenceBatch.id)
    )
    if first is None:
        return None
    known = {*REQUIRED_PREDICTION_COLUMNS, *OPTIONAL_PREDICTION_COLUMNS}
    return [
        c["name"]
        for c in first.columns
        if c["name"] not in known and not c["name"].startswith(PROBABILITY_PREFIX)
    ]


def validate(session: Session, *, mv: ModelVersion, table: pa.Table, path: Path, kind: str) -> pa.Table:
    """``table`` checked against ``mv``'s schema, ids as strings and times in UTC; writes nothing."""
    if kind == "predictions":
        return validate_predictions(table, stored_features(session, mv=mv), path, mv.ref, feature_schema(mv))
    if kind == "labels":
        return validate_labels(table, path)
    raise InvalidInput(f"batch kind '{kind}' is not predictions or labels")


def store(
    session: Session,
    *,
    storage: LocalStorage,
    mv: ModelVersion,
    table: pa.Table,
    sha: str,
    path: Path,
    kind: str,
    actor: str,
    records_key: str | None = None,
) -> InferenceBatch:
    """Write a validated ``table`` under the storage root and index it, with its audit event
    (``records_key``: records sent over the API, identified by their request ids, no source file)."""
    time_column = "timestamp" if kind == "predictions" else "labeled_at"
    time_min = time_max = None
    if time_column in table.column_names:
        times = table.column(time_column)
        time_min, time_max = pc.min(times).as_py(), pc.max(times).as_py()
    location = _store(session, storage, table, sha, kind)
    batch = InferenceBatch(
        model_version=mv,
        kind=kind,
        location=str(location),
        source_path=None if records_key else str(Path(path).absolute()),
        records_key=records_key,
        sha256=sha,
        rows=table.num_rows,
        time_min=time_min,
        time_max=time_max,
        columns=[{"name": f.name, "type": str(f.type)} for f in table.schema],
        registered_by=actor,
    )
    session.add(batch)
    session.flush()
    audit_service.record(
        session,
        actor=actor,
        action=f"production.{kind}",
        entity_type="inference_batch",
        entity_id=mv.ref,
        changes={
            "batch": batch.id,
            "sha256": sha,
            "rows": batch.rows,
            "time_min": str(time_min) if time_min else None,
            "time_max": str(time_max) if time_max else None,
        },
    )
    if kind == "predictions":  # human review (Art. 14): the model's share of records joins the queue
        review_service.sample_batch(session, mv=mv, table=table, actor=actor, source=f"batch {batch.id}")
    return batch


def batches_query(*, mv: ModelVersion, kind: str | None = None) -> Select[InferenceBatch]:
    query = select(InferenceBatch).where(InferenceBatch.model_version_id == mv.id)
    if kind is not None:
        query = query.where(InferenceBatch.kind == kind)
    return query.options(joinedload(InferenceBatch.model_version).joinedload(ModelVersion.model)).order_by(
        InferenceBatch.id
    )


def list_batches(session: Session, *, mv: ModelVersion, kind: str | None = None) -> list[InferenceBatch]:
    return list(session.scalars(batches_query(mv=mv, kind=kind)))


def read_window(
    session: Session,
    *,
    mv: ModelVersion,
    start: datetime,
    end: datetime,
    with_labels: bool = True,
    columns: list[str] | None = None,
) -> pd.DataFrame:
    """The records of ``mv`` with ``start <= timestamp < end``, joined with their labels.

    Only batches whose time range overlaps the window are opened, and only their rows inside the
    window are read; labels are read filtered to the window's request ids (latest label wins).
    """
    batches = session.scalars(
        select(InferenceBatch)
        .where(
            InferenceBatch.model_version_id == mv.id,
            InferenceBatch.kind == "predictions",
            InferenceBatch.time_max >= start,
            InferenceBatch.time_min < end,
        )
        .order_by(InferenceBatch.id)
    ).all()
    start_scalar = pa.scalar(pd.Timestamp(start).tz_convert("UTC").to_datetime64(), pa.timestamp("us")).cast(
        pa.timestamp("us", tz="UTC")
    )
    end_scalar = pa.scalar(pd.Timestamp(end).tz_convert("UTC").to_datetime64(), pa.timestamp("us")).cast(
        pa.timestamp("us", tz="UTC")
    )
    row_filter = (pc.field("timestamp") >= start_scalar) & (pc.field("timestamp") < end_scalar)
    parts = [data.read_table(b.location, columns, filters=row_filter, format="parquet") for b in batches]
    parts = [p for p in parts if p.num_rows]
    if not parts:
        return pd.DataFrame()
    frame = pa.concat_tables(parts, promote_options="permissive").to_pandas()
    frame = frame.drop_duplicates(subset="request_id", keep="last").sort_values("timestamp", kind="stable")
    if with_labels:
        labels = _labels_for(session, mv=mv, request_ids=frame["request_id"].tolist())
        frame = frame.merge(labels, on="request_id", how="left") if len(labels) else frame.assign(label=None)
    return frame.reset_index(drop=True)


def _labels_for(session: Session, *, mv: ModelVersion, request_ids: list[str]) -> pd.DataFrame:
    wanted = pa.array(request_ids, type=pa.string())
    parts = []
    for batch in list_batches(session, mv=mv, kind="labels"):
        table = data.read_table(
            batch.location,
            ["request_id", "label"],
            filters=pc.field("request_id").isin(wanted),
            format="parquet",
        )
        if table.num_rows:
            parts.append(table)
    labels = (
        pa.concat_tables(parts, promote_options="permissive")
        .to_pandas()
        .drop_duplicates("request_id", keep="last")
        if parts
        else pd.DataFrame(columns=["request_id", "label"])
    )
    # a reviewer's verdict labels a record no late label has reached (governance.review)
    reviewed = review_service.labels_for(session, mv=mv, request_ids=request_ids)
    reviewed = reviewed[~reviewed["request_id"].isin(labels["request_id"])]
    if not len(reviewed):
        return labels
    return (
        pd.concat([labels, reviewed], ignore_index=True) if len(labels) else reviewed.reset_index(drop=True)
    )


def describe(batch: InferenceBatch) -> dict[str, Any]:
    return batch.to_dict()
